"""The Redshift Data API on the local cloud: ExecuteStatement, DescribeStatement and
GetStatementResult run the SQL on the PostgreSQL stand-in, which moto's redshift-data does not
(it records the statement and answers every GetStatementResult with the same three fixed rows).

`RedshiftDataService(ctx)` is the runtime's `redshift-data` service; the moto patch
(emulation/moto/patches/redshift_data.py) forwards the three operations' JSON requests to its
control routes `POST /redshift-data/{Operation}` and returns its answers as they are, so
`boto3.client("redshift-data").execute_statement(WorkgroupName=..., Database=..., SecretArn=...,
Sql=...)` behaves as on Redshift Serverless: the statement runs asynchronously in a worker thread
(SUBMITTED -> STARTED -> FINISHED, or FAILED with PostgreSQL's error where Redshift gives its own), as
the user of the secret (its username/password, read from Secrets Manager as the Data API does), in
Redshift SQL reduced by `emulation.redshift.connection`, and its rows come back as Data API fields.

As on AWS: WorkgroupName must name the local workgroup (the project name, the rule deploy/names.py
uses for the real one) and Database the warehouse's database, else ValidationException; a secret
that does not exist is a ValidationException naming it; an unknown statement id is
ResourceNotFoundException; GetStatementResult on a statement without a result set, or not yet
FINISHED, is a ValidationException.

Known gaps vs AWS: only WorkgroupName + SecretArn authentication (no ClusterIdentifier, no
DbUser/IAM temporary credentials); no Parameters, BatchExecuteStatement, CancelStatement,
ListStatements or result pagination (every row comes back at once, no NextToken); ColumnMetadata
holds each column's name and label only; numbers that are not integers come back as stringValue
(as Redshift returns DECIMAL); statements and results live in the runtime's memory only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

log = logging.getLogger("localcloud.redshift_data")
OPERATIONS = ("ExecuteStatement", "DescribeStatement", "GetStatementResult")


class DataApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class Statement:
    Id: str
    QueryString: str
    Database: str
    WorkgroupName: str
    SecretArn: str
    Status: str = "SUBMITTED"
    CreatedAt: float = field(default_factory=time.time)
    UpdatedAt: float = field(default_factory=time.time)
    Duration: int = -1
    """Nanoseconds, as the Data API reports it (-1 until it ends)."""
    Error: str | None = None
    HasResultSet: bool = False
    ResultRows: int = -1
    columns: list[str] = field(default_factory=list)
    records: list[tuple] = field(default_factory=list)

    def describe(self) -> dict:
        keys = (
            "Id",
            "QueryString",
            "Database",
            "WorkgroupName",
            "SecretArn",
            "Status",
            "CreatedAt",
            "UpdatedAt",
            "Duration",
            "Error",
            "HasResultSet",
            "ResultRows",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def field_of(value: Any) -> dict:
    """A Data API `Field` for one value (DECIMAL, dates and text as stringValue, as Redshift)."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, dt.datetime):
        return {"stringValue": value.strftime("%Y-%m-%d %H:%M:%S")}
    if isinstance(value, Decimal | dt.date):
        return {"stringValue": str(value)}
    return {"stringValue": str(value)}


class DataApi:
    """Statements run by a small thread pool as the user of each request's secret."""

    def __init__(
        self,
        secrets_client,
        workgroup: str,
        database: str,
        aws_endpoint: str | None,
        region: str,
        workers: int = 2,
    ):
        self._secrets = secrets_client
        self.workgroup, self.database = workgroup, database
        self._aws_endpoint, self._region = aws_endpoint, region
        self._statements: dict[str, Statement] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="redshift-data")

    def execute(self, request: dict) -> dict:
        sql, secret_arn = request.get("Sql"), request.get("SecretArn")
        workgroup, database = request.get("WorkgroupName"), request.get("Database")
        if request.get("ClusterIdentifier") or request.get("DbUser"):
            raise DataApiError(
                "ValidationException",
                "the local Data API serves a Redshift "
                "Serverless workgroup: pass WorkgroupName and SecretArn",
            )
        if not sql or not isinstance(sql, str):
            raise DataApiError("ValidationException", "Sql is required")
        if workgroup != self.workgroup:
            raise DataApiError(
                "ValidationException",
                f"workgroup {workgroup!r} not found (the local workgroup is {self.workgroup!r})",
            )
        if database != self.database:
            raise DataApiError(
                "ValidationException",
                f"database {database!r} does not exist (the warehouse database is "
                f"{self.database!r})",
            )
        if not secret_arn:
            raise DataApiError("ValidationException", "SecretArn is required")
        if request.get("Parameters"):
            raise DataApiError("ValidationException", "Parameters are not emulated locally")
        secret = self._secret(secret_arn)
        statement = Statement(
            Id=str(uuid.uuid4()),
            QueryString=sql,
            Database=database,
            WorkgroupName=workgroup,
            SecretArn=secret_arn,
        )
        with self._lock:
            self._statements[statement.Id] = statement
        self._pool.submit(self._run, statement, secret)
        return {
            "Id": statement.Id,
            "CreatedAt": statement.CreatedAt,
            "Database": database,
            "WorkgroupName": workgroup,
            "SecretArn": secret_arn,
        }

    def describe(self, request: dict) -> dict:
        return self._get(request.get("Id")).describe()

    def result(self, request: dict) -> dict:
        statement = self._get(request.get("Id"))
        if statement.Status != "FINISHED":
            raise DataApiError(
                "ValidationException", f"Query {statement.Id} is {statement.Status}, not FINISHED"
            )
        if not statement.HasResultSet:
            raise DataApiError("ValidationException", f"Query {statement.Id} has no result set")
        return {
            "ColumnMetadata": [{"name": c, "label": c} for c in statement.columns],
            "Records": [[field_of(v) for v in row] for row in statement.records],
            "TotalNumRows": len(statement.records),
        }

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _get(self, statement_id) -> Statement:
        statement = self._statements.get(statement_id or "")
        if statement is None:
            raise DataApiError("ResourceNotFoundException", "Query does not exist.")
        return statement

    def _secret(self, secret_arn: str) -> dict:
        try:
            value = self._secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
        except self._secrets.exceptions.ResourceNotFoundException:
            raise DataApiError(
                "ValidationException", f"secret {secret_arn} not found in Secrets Manager"
            ) from None
        secret = json.loads(value)
        missing = {"username", "password", "host", "port"} - set(secret)
        if missing:
            raise DataApiError(
                "ValidationException", f"secret {secret_arn} lacks {sorted(missing)}"
            )
        return secret

    def _run(self, statement: Statement, secret: dict) -> None:
        from .connection import connect, dsn_from_secret

        statement.Status, statement.UpdatedAt = "STARTED", time.time()
        started = time.perf_counter()
        try:
            dsn = dsn_from_secret({**secret, "dbname": statement.Database})
            with connect(dsn, aws_endpoint=self._aws_endpoint, region=self._region) as rs:
                result = rs.execute(statement.QueryString, label="redshift-data")
            statement.HasResultSet = bool(result.columns)
            statement.columns, statement.records = result.columns, list(result.records)
            statement.ResultRows = result.rows
            statement.Status = "FINISHED"
        except Exception as exc:  # noqa: BLE001 - a failed statement is FAILED with the reason
            statement.Error = f"ERROR: {str(exc).strip()}"[:2000]
            statement.Status = "FAILED"
        statement.Duration = int((time.perf_counter() - started) * 1e9)
        statement.UpdatedAt = time.time()


class RedshiftDataService:
    """The runtime service: a DataApi behind the control routes the moto patch calls."""

    def __init__(self, ctx):
        self.ctx = ctx
        warehouse = ctx.resources.warehouse
        self.api = DataApi(
            ctx.boto("secretsmanager"),
            workgroup=ctx.resources.project,
            database=warehouse.database if warehouse else "",
            aws_endpoint=ctx.config.aws_endpoint,
            region=ctx.config.region,
        )

    def start(self) -> None:
        handlers = {
            "ExecuteStatement": self.api.execute,
            "DescribeStatement": self.api.describe,
            "GetStatementResult": self.api.result,
        }

        def route(params, _headers, body):
            try:
                request = json.loads(body or b"{}")
                return 200, {}, handlers[params["op"]](request)
            except DataApiError as exc:
                return exc.status, {}, {"__type": exc.code, "message": str(exc)}
            except (ValueError, TypeError) as exc:
                return 400, {}, {"__type": "ValidationException", "message": str(exc)}

        self.ctx.control.register(
            "POST", r"/redshift-data/(?P<op>" + "|".join(OPERATIONS) + ")", route
        )

    def stop(self) -> None:
        self.api.stop()
