"""Read the pipeline's sinks back as reconciliation figures (client side: boto3 and psycopg).

Every reader counts only the replayed events (`Scope`: the source file's id prefix and the
replayed line range), so sinks that also hold other files or earlier, longer replays still
reconcile. The warehouse is read with a DSN (local clouds) or through the Redshift Data API
(AWS: the workgroup and a secret, no network path to the warehouse needed). DynamoDB's invoice items are read with their `lines` maps (keyed by event id, see
`pipeline.projections`); the archive is read incrementally (objects are immutable, so each is read
once across polls); the warehouse is asked with one aggregate query.

Reading DynamoDB back is a full Scan of both tables, which on the full dataset costs the endpoint
many CPU-seconds, so `read_invoice_tail` offers a cheap progress check to do first: the last
invoices of the replay (`InvoiceTail`) read by key. It only says "not yet"; the verdict is always
the full read's.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pipeline.backoff import Backoff
from pipeline.reconcile import FigureBuilder, Figures
from pipeline.resources import ARCHIVE_PREFIX, PIPELINE

READ_BACKOFF = Backoff(base_s=0.1, cap_s=1.0)
"""Between reads of keys DynamoDB left unprocessed."""
GLUE_DONE = {"SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"}


@dataclass(frozen=True)
class Scope:
    prefix: str
    """First 16 hex digits of the source's sha256 (the event-id prefix)."""
    first_line: int
    last_line: int

    def __contains__(self, event_id: str) -> bool:
        prefix, _, number = event_id.partition(":")
        return (
            prefix == self.prefix
            and number.isdigit()
            and self.first_line <= int(number) <= self.last_line
        )


def _client(service: str, endpoint: str | None, region: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint or None, region_name=region)


def read_dynamodb(
    scope: Scope,
    *,
    endpoint: str | None,
    region: str,
    invoice_table: str = "invoice",
    customer_table: str = "customer",
) -> Figures:
    """Figures of the invoice lines in scope; customers = customers with a summary item of such
    an invoice (`pipeline.customers`).

    The invoice table holds page items (`pipeline.invoice_pages`); each carries the invoice's
    customer and country, so its lines are read on their own."""
    dynamodb = _client("dynamodb", endpoint, region)
    builder = FigureBuilder()
    invoices_in_scope: set[str] = set()
    # Read as DynamoDB JSON, without a ProjectionExpression: the figures need only a few values
    # of each line, and moto copies every item it projects (on AWS a projection saves no reads).
    for item in _scan(dynamodb, invoice_table):
        invoice_no = item["invoice_no"]["S"]
        customer = item.get("customer_id", {}).get("S")  # absent, or {"NULL": true}: a guest sale
        for event_id, line in item.get("lines", {}).get("M", {}).items():
            if event_id in scope:
                # Stored line: [stock_code, description, quantity, unit_price, line_total, date]
                # and, only where they differ from the invoice's, [customer_id, country].
                values = line["L"]
                own = values[6].get("S") if len(values) == 8 else customer
                # One id in two invoices is two versions (pages of one invoice hold one version:
                # a map keeps an id once, and a page left by a crash repeats the same line).
                builder.add_line(
                    event_id,
                    invoice_no,
                    own,
                    int(values[2]["N"]),
                    Decimal(values[4]["N"]),
                    content=invoice_no,
                )
                invoices_in_scope.add(invoice_no)
    figures = builder.figures()
    customers: set[str] = set()
    for item in _scan(dynamodb, customer_table):
        if item["invoice_no"]["S"] in invoices_in_scope:
            customers.add(item["customer_id"]["S"])
    return Figures(
        figures.lines,
        figures.invoices,
        len(customers),
        figures.quantity,
        figures.revenue,
        figures.cancellations,
        figures.conflicts,
    )


@dataclass
class InvoiceTail:
    """The last invoices of a replay in file order (by their last line sent), with their lines.

    The stream is partitioned by invoice_no and the client sends in file order, so these are among
    the last to reach DynamoDB; until they hold all their lines the sink cannot be complete. Shards
    are consumed independently, so the converse does not hold: they may be complete while other
    invoices are not (the full read decides).
    """

    size: int = 10
    _lines: dict[str, int] = field(default_factory=dict)
    """invoice_no -> lines sent, in order of each invoice's latest line (a dict keeps that order)."""

    def add(self, invoice_no: str) -> None:
        self._lines[invoice_no] = self._lines.pop(invoice_no, 0) + 1

    def expected(self) -> dict[str, int]:
        """The last `size` invoices and their line counts (the lines sent are the lines in scope)."""
        last = list(self._lines)[-self.size :] if self.size > 0 else []
        return {invoice_no: self._lines[invoice_no] for invoice_no in last}


@dataclass(frozen=True)
class TailCheck:
    """What the invoice table holds of an `InvoiceTail`: lines in scope per invoice."""

    expected: dict[str, int]
    found: dict[str, int]

    @property
    def complete(self) -> bool:
        """Every tail invoice holds at least its lines (more is passed on for the full read to report)."""
        return all(self.found.get(no, 0) >= count for no, count in self.expected.items())

    @property
    def lines(self) -> int:
        return sum(min(self.found.get(no, 0), count) for no, count in self.expected.items())

    @property
    def expected_lines(self) -> int:
        return sum(self.expected.values())

    def render(self) -> str:
        done = sum(1 for no, count in self.expected.items() if self.found.get(no, 0) >= count)
        return (
            f"last {len(self.expected)} invoices: {done} complete, "
            f"{self.lines}/{self.expected_lines} lines"
        )


def read_invoice_tail(
    scope: Scope,
    expected: dict[str, int],
    *,
    endpoint: str | None,
    region: str,
    invoice_table: str = "invoice",
    client=None,
    max_attempts: int = 5,
) -> TailCheck:
    """BatchGetItem the tail invoices' page 0; count each one's lines in scope (a missing item
    holds 0; an invoice spread over several page items is counted from all of them, by Query).

    Keys DynamoDB leaves unprocessed are asked again a few times; any still unprocessed count as
    holding nothing, which can only delay the full read, never replace it."""
    dynamodb = client or _client("dynamodb", endpoint, region)
    found: dict[str, int] = {}
    spread: list[str] = []
    numbers = list(expected)
    for start in range(0, len(numbers), 100):  # BatchGetItem takes at most 100 keys
        request: dict[str, Any] = {
            invoice_table: {
                "Keys": [
                    {"invoice_no": {"S": no}, "page": {"S": "0"}}
                    for no in numbers[start : start + 100]
                ],
                "ProjectionExpression": "invoice_no, #l, pages",
                "ExpressionAttributeNames": {"#l": "lines"},
            }
        }
        for attempt in range(max_attempts):
            if attempt:
                time.sleep(READ_BACKOFF.delay(attempt - 1))
            page = dynamodb.batch_get_item(RequestItems=request)
            for item in page.get("Responses", {}).get(invoice_table, []):
                no = item["invoice_no"]["S"]
                found[no] = _lines_in_scope(item, scope)
                if int(item.get("pages", {}).get("N", "1")) > 1:
                    spread.append(no)
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
    for no in spread:
        kwargs: dict[str, Any] = {
            "TableName": invoice_table,
            "KeyConditionExpression": "invoice_no = :n",
            "ExpressionAttributeValues": {":n": {"S": no}},
        }
        found[no] = 0
        while True:
            page = dynamodb.query(**kwargs)
            found[no] += sum(_lines_in_scope(item, scope) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return TailCheck(dict(expected), found)


def _lines_in_scope(item: dict[str, Any], scope: Scope) -> int:
    return sum(1 for event_id in item.get("lines", {}).get("M", {}) if event_id in scope)


def _scan(dynamodb, table: str):
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_refused_conflicts(
    scope: Scope, *, endpoint: str | None, region: str, claim_table: str = "event_claim"
) -> int:
    """Events ingest refused for reusing an id of the scope with other content (`pipeline.claims`)."""
    from pipeline.claims import EventClaims, blocks_of_scope

    claims = EventClaims(_client("dynamodb", endpoint, region), claim_table)
    return claims.conflicts(blocks_of_scope(scope.prefix, scope.first_line, scope.last_line))


def archive_bucket(*, endpoint: str | None, region: str) -> str:
    account = _client("sts", endpoint, region).get_caller_identity()["Account"]
    return PIPELINE.bucket("raw-archive").physical_name(account, region)


@dataclass
class ArchiveReader:
    """Reads s3://bucket/raw/sales_events/event_date=.../*.gz once per object, across polls."""

    scope: Scope
    bucket: str
    endpoint: str | None
    region: str
    builder: FigureBuilder = field(default_factory=FigureBuilder)
    objects: int = 0
    lines: int = 0
    """Archive lines read in scope, duplicates (redeliveries) included."""
    _seen: set[str] = field(default_factory=set)

    def read(self) -> Figures:
        s3 = _client("s3", self.endpoint, self.region)
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=ARCHIVE_PREFIX
        ):
            for obj in page.get("Contents", []):
                key = f"{obj['Key']}@{obj.get('ETag', '')}"
                if key in self._seen:
                    continue
                body = s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                self._add_object(body)
                self._seen.add(key)
                self.objects += 1
        return self.builder.figures()

    def _add_object(self, body: bytes) -> None:
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        for raw in body.splitlines():
            if not raw.strip():
                continue
            record = json.loads(raw)
            if record.get("event_id", "") in self.scope:
                self.lines += 1
                self.builder.add_record(record)


_SCOPE = "event_id LIKE %s AND CAST(SPLIT_PART(event_id, ':', 2) AS INTEGER) BETWEEN %s AND %s"
_FIGURES_SQL = f"""
SELECT COUNT(*), COUNT(DISTINCT invoice_no), COUNT(DISTINCT customer_id),
       COALESCE(SUM(quantity), 0), COALESCE(SUM(line_total), 0),
       COALESCE(SUM(CASE WHEN is_cancellation THEN 1 ELSE 0 END), 0)
FROM {{table}}
WHERE {_SCOPE}
"""
# The warehouse's versions of each event id in scope: what every load of it held (the raw stream
# table keeps every delivery; pipeline/warehouse/schema.sql has the same query as a view).
_CONFLICTS_SQL = f"""
SELECT COUNT(*) FROM (
    SELECT event_id FROM (
        SELECT DISTINCT event_id, invoice_no, stock_code, description, quantity, invoice_date,
               unit_price, customer_id, country
        FROM {{table}} WHERE {_SCOPE}
    ) AS versions
    GROUP BY event_id HAVING COUNT(*) > 1
) AS conflicting
"""
RAW_TABLES = {"stream.sales_events_dedup": "stream.sales_events"}
"""Where a sink's versions are counted: the dedup view keeps one row per id, its table all."""


def read_warehouse(scope: Scope, dsn: str, table: str) -> Figures:
    """Figures of `table` (stream.sales_events_dedup or analytics.sales) for the scope."""
    import psycopg

    where = (f"{scope.prefix}:%", scope.first_line, scope.last_line)
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(_FIGURES_SQL.format(table=table), where).fetchone()
        (conflicts,) = conn.execute(
            _CONFLICTS_SQL.format(table=RAW_TABLES.get(table, table)), where
        ).fetchone() or (0,)
    return _figures(row, conflicts)


@dataclass(frozen=True)
class DataApiTarget:
    """Where the Redshift Data API runs statements: `python -m deploy env` exports these."""

    workgroup: str
    database: str
    secret_arn: str


_TABLE = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
_PREFIX = re.compile(r"[0-9a-f]{16}")


def read_warehouse_data_api(
    scope: Scope,
    target: DataApiTarget,
    table: str,
    *,
    endpoint: str | None,
    region: str,
    client=None,
    poll_s: float = 1.0,
    timeout_s: float = 300,
) -> Figures:
    """The same figures as `read_warehouse`, through ExecuteStatement / DescribeStatement /
    GetStatementResult. The values are checked and written into the SQL (the scope is a hex prefix
    and two line numbers, the table one of ours), so no statement parameters are needed."""
    if not _TABLE.fullmatch(table) or not _PREFIX.fullmatch(scope.prefix):
        raise ValueError(f"refusing to query {table!r} for scope {scope.prefix!r}")
    values = (f"'{scope.prefix}:%'", int(scope.first_line), int(scope.last_line))
    data = client or _client("redshift-data", endpoint, region)

    def run(sql: str) -> list:
        statement = data.execute_statement(
            WorkgroupName=target.workgroup,
            Database=target.database,
            SecretArn=target.secret_arn,
            Sql=sql,
        )["Id"]
        deadline = time.monotonic() + timeout_s
        while True:
            desc = data.describe_statement(Id=statement)
            if desc["Status"] == "FINISHED":
                break
            if desc["Status"] in ("FAILED", "ABORTED"):
                raise RuntimeError(
                    f"warehouse query on {table} {desc['Status']}: {desc.get('Error', '')}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"warehouse query on {table} still {desc['Status']} after {timeout_s:.0f} s"
                )
            time.sleep(poll_s)
        (record,) = data.get_statement_result(Id=statement)["Records"]
        return [_field_value(f) for f in record]

    row = run(_FIGURES_SQL.replace("%s", "{}").format(*values, table=table))
    (conflicts,) = run(
        _CONFLICTS_SQL.replace("%s", "{}").format(*values, table=RAW_TABLES.get(table, table))
    )
    return _figures(row, conflicts)


def _field_value(field: dict):
    """A Data API Field's value (Redshift returns DECIMAL sums as stringValue)."""
    if field.get("isNull"):
        return None
    for key in ("longValue", "doubleValue", "booleanValue", "stringValue"):
        if key in field:
            return field[key]
    raise ValueError(f"unexpected Data API field {field}")


def _figures(row, conflicts) -> Figures:
    lines, invoices, customers, quantity, revenue, cancellations = row
    return Figures(
        int(lines),
        int(invoices),
        int(customers),
        int(quantity),
        _plain(Decimal(str(revenue))),
        int(cancellations),
        int(conflicts),
    )


def _plain(value: Decimal) -> Decimal:
    """Drop the column's trailing zeros (DECIMAL(38,6)) without switching to exponent form."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def run_batch_job(
    *,
    endpoint: str | None,
    region: str,
    job_name: str = "sales-batch-load",
    timeout_s: float = 1800,
    poll_s: float = 5.0,
    log=print,
    glue_endpoint: str | None = None,
) -> str:
    """StartJobRun and wait for a final state with GetJobRun; return it (SUCCEEDED or an error).

    `glue_endpoint` (`AWS_ENDPOINT_URL_GLUE`) serves the Glue API where it is not at `endpoint`:
    the compose harness's LocalStack has no Glue, its `glue-catalog` service has."""
    glue = _client("glue", glue_endpoint or endpoint, region)
    # The job registers the archive's new partitions itself (its log says how many).
    run_id = glue.start_job_run(JobName=job_name)["JobRunId"]
    log(f"batch: started Glue job {job_name} run {run_id}")
    deadline = time.monotonic() + timeout_s
    while True:
        run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        state = run["JobRunState"]
        if state in GLUE_DONE:
            if state != "SUCCEEDED":
                log(f"batch: job run {run_id} ended {state}: {run.get('ErrorMessage', '')}")
            return state
        if time.monotonic() > deadline:
            return f"still {state} after {timeout_s:.0f} s"
        time.sleep(poll_s)
