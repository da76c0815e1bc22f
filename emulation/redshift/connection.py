"""The Redshift stand-in's SQL surface: Redshift SQL in, PostgreSQL underneath.

    rs = connect(dsn, aws_endpoint="http://127.0.0.1:4566")
    rs.execute("COPY stream.sales_events FROM 's3://bucket/prefix' IAM_ROLE '...' FORMAT AS JSON 'auto' GZIP",
               label="firehose")
    rs.execute(open("pipeline/warehouse/schema.sql").read(), label="migrate")

`execute` reduces Redshift-only syntax with sqlglot (`emulation.redshift.dialect`), runs COPY from S3
itself (`emulation.redshift.copy`), and records every statement it sends, successful or not, in
`localcloud.statement_log` (kind, rows, duration, label, user): the input of `make cost`.
Bad COPY records go to `localcloud.stl_load_errors` (Redshift's STL_LOAD_ERRORS, same columns
where they apply). Both are written on a separate autocommit connection, so they survive a
rolled-back load, as Redshift's system tables do.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .copy import CopyRun, LoadError
from .copy_options import CopyError, parse_copy
from .dialect import RedshiftSqlError, parse, reduce_tree

log = logging.getLogger("localcloud.redshift")

_COPY = re.compile(r"^\s*(?:--[^\n]*\n\s*)*copy\s", re.IGNORECASE)

BOOKKEEPING_SQL = """
CREATE SCHEMA IF NOT EXISTS localcloud;
CREATE TABLE IF NOT EXISTS localcloud.statement_log (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    kind text NOT NULL,
    rows bigint,
    label text,
    username text NOT NULL DEFAULT current_user,
    succeeded boolean NOT NULL,
    error text,
    statement text NOT NULL
);
CREATE TABLE IF NOT EXISTS localcloud.stl_load_errors (
    id bigserial PRIMARY KEY,
    starttime timestamptz NOT NULL DEFAULT now(),
    userid text NOT NULL DEFAULT current_user,
    label text,
    tbl text NOT NULL,
    filename text NOT NULL,
    line_number bigint,
    colname text,
    type text,
    raw_line text,
    raw_field_value text,
    err_code integer,
    err_reason text
);
CREATE OR REPLACE FUNCTION localcloud.is_valid_value(v text, typ text, fmt text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF fmt IS NULL OR lower(fmt) = 'auto' THEN RETURN pg_input_is_valid(v, typ); END IF;
    IF lower(fmt) IN ('epochsecs', 'epochmillisecs') THEN RETURN pg_input_is_valid(v, 'double precision'); END IF;
    PERFORM to_timestamp(v, fmt);
    RETURN TRUE;
EXCEPTION WHEN others THEN
    RETURN FALSE;
END $$;
GRANT USAGE ON SCHEMA localcloud TO PUBLIC;
GRANT INSERT, SELECT ON localcloud.statement_log, localcloud.stl_load_errors TO PUBLIC;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA localcloud TO PUBLIC;
GRANT EXECUTE ON FUNCTION localcloud.is_valid_value(text, text, text) TO PUBLIC;
"""


def install_bookkeeping(dsn: str) -> None:
    """Create the stand-in's system tables (needs a role that may create schemas)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727271)")  # two `up`s at once must not race
        try:
            conn.execute(BOOKKEEPING_SQL)
        finally:
            conn.execute("SELECT pg_advisory_unlock(727271)")


@dataclass
class Result:
    kind: str
    rows: int
    duration_s: float
    columns: list[str] = field(default_factory=list)
    records: list[tuple] = field(default_factory=list)
    load_errors: int = 0


class RedshiftConnection:
    def __init__(
        self,
        dsn: str,
        *,
        aws_endpoint: str | None = None,
        region: str | None = None,
        s3_client=None,
        connect_timeout: int = 5,
        direct_json: bool = True,
        direct_arrow: bool = True,
    ):
        self.dsn = dsn
        self.direct_json = direct_json
        """COPY ... FORMAT JSON takes the direct path when it can (emulation.redshift.copy_json);
        False: always the SQL path (the tests and `bench warehouse --sql-path` compare both)."""
        self.direct_arrow = direct_arrow
        """False: the direct path converts with orjson only, never pyarrow (the bench compares both)."""
        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
        self._log_conn: psycopg.Connection | None = None
        self._aws_endpoint = aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        self._region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self._s3 = s3_client

    # -- public surface --------------------------------------------------------------------
    def execute(self, sql_text: str, label: str | None = None, params: Any = None) -> Result:
        """Run one or more Redshift statements; the result is the last statement's."""
        if _COPY.match(sql_text):
            return self._copy(sql_text.strip(), label)
        try:
            statements = parse(sql_text)
        except RedshiftSqlError as exc:
            self._log(time.time(), 0.0, "INVALID", None, label, False, str(exc), sql_text)
            raise
        result = Result(kind="EMPTY", rows=0, duration_s=0.0)
        for statement in statements:
            if statement.kind == "COPY":
                raise RedshiftSqlError("put a COPY in its own execute() call")
            pg = reduce_tree(statement.tree).sql("postgres", comments=False)
            result = self._run(statement.kind, pg, statement.redshift, label, params)
        return result

    def query(self, sql_text: str, label: str | None = None, params: Any = None) -> list[tuple]:
        return self.execute(sql_text, label=label, params=params).records

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN ... COMMIT around several execute() calls (ROLLBACK on an exception)."""
        with self._conn.transaction():
            yield self

    def close(self) -> None:
        for conn in (self._conn, self._log_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def __enter__(self) -> RedshiftConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn.closed

    # -- internals -------------------------------------------------------------------------
    def _run(self, kind: str, pg_sql: str, original: str, label, params) -> Result:
        started, t0 = time.time(), time.perf_counter()
        try:
            with self._conn.cursor() as cur:
                cur.execute(pg_sql, params)
                records = cur.fetchall() if cur.description else []
                columns = [d.name for d in cur.description] if cur.description else []
                rows = cur.rowcount if cur.rowcount >= 0 else len(records)
        except Exception as exc:
            self._log(
                started, time.perf_counter() - t0, kind, None, label, False, str(exc), original
            )
            raise
        duration = time.perf_counter() - t0
        self._log(started, duration, kind, rows, label, True, None, original)
        return Result(kind=kind, rows=rows, duration_s=duration, columns=columns, records=records)

    def _copy(self, sql_text: str, label) -> Result:
        started, t0 = time.time(), time.perf_counter()
        try:
            cmd = parse_copy(sql_text)
            with self._conn.transaction():
                outcome = CopyRun(
                    self._conn,
                    self._s3_client(),
                    cmd,
                    label=label,
                    error_sink=self._record_load_errors,
                    direct_json=self.direct_json,
                    direct_arrow=self.direct_arrow,
                ).run()
        except (CopyError, LoadError, psycopg.Error, Exception) as exc:
            self._log(
                started, time.perf_counter() - t0, "COPY", None, label, False, str(exc), sql_text
            )
            raise
        duration = time.perf_counter() - t0
        self._log(started, duration, "COPY", outcome.rows, label, True, None, sql_text)
        return Result(
            kind="COPY", rows=outcome.rows, duration_s=duration, load_errors=outcome.errors
        )

    def _s3_client(self):
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client(
                "s3",
                endpoint_url=self._aws_endpoint,
                region_name=self._region,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            )
        return self._s3

    def _bookkeeping(self) -> psycopg.Connection | None:
        if self._log_conn is None or self._log_conn.closed:
            try:
                self._log_conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            except psycopg.Error as exc:
                log.warning("statement log unavailable: %s", exc)
                return None
        return self._log_conn

    def _log(self, started, duration, kind, rows, label, ok, error, statement) -> None:
        conn = self._bookkeeping()
        if conn is None:
            return
        try:
            conn.execute(
                "INSERT INTO localcloud.statement_log (started_at, duration_ms, kind, rows, label, succeeded, "
                "error, statement) VALUES (to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s)",
                (
                    started,
                    duration * 1000.0,
                    kind,
                    rows,
                    label,
                    ok,
                    (error or "")[:2000] or None,
                    _redact(statement)[:4000],
                ),
            )
        except psycopg.Error as exc:  # the warehouse went away mid-statement: the caller sees it
            log.warning("statement not logged: %s", exc)
            with contextlib.suppress(Exception):
                conn.close()

    def _record_load_errors(self, errors: list[dict]) -> None:
        conn = self._bookkeeping()
        if conn is None or not errors:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO localcloud.stl_load_errors (label, tbl, filename, line_number, colname, type, "
                "raw_line, raw_field_value, err_code, err_reason) VALUES (%(label)s, %(tbl)s, %(filename)s, "
                "%(line_number)s, %(colname)s, %(type)s, %(raw_line)s, %(raw_field_value)s, %(err_code)s, "
                "%(err_reason)s)",
                errors,
            )


_SECRET = re.compile(
    r"((?:CREDENTIALS|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD)\s+(?:AS\s+)?)'[^']*'", re.I
)


def _redact(statement: str) -> str:
    """Credentials never reach the log (IAM_ROLE ARNs are not secrets and stay)."""
    return _SECRET.sub(r"\1'***'", statement)


def connect(dsn: str, **kwargs) -> RedshiftConnection:
    """Open the stand-in with a libpq DSN (`postgresql://user:pw@host/db` or `host=... dbname=...`)."""
    return RedshiftConnection(dsn, **kwargs)


def dsn_from_secret(secret: dict) -> str:
    """A libpq DSN from a Redshift/RDS-shaped secret {username,password,host,port,dbname}."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=secret["host"],
        port=str(secret["port"]),
        dbname=secret["dbname"],
        user=secret["username"],
        password=secret["password"],
    )
