"""`write_dynamic_frame.from_jdbc_conf` to the Redshift stand-in, the way Glue's connector does it.

1. The connection is looked up in the Data Catalog (`GetConnection`): JDBC_CONNECTION_URL
   (`jdbc:redshift://host:port/db`) and either SECRET_ID (Secrets Manager: username/password) or
   USERNAME/PASSWORD properties.
2. `preactions` run (statements split on `;`), the frame is written as JSON lines under
   `redshift_tmp_dir/<uuid>/` in S3, one `COPY dbtable (columns) FROM 's3://...' FORMAT AS JSON
   'auto'` loads it, then `postactions` run, on the warehouse connection that `connect(dsn)` of
   `GLUE_LOCAL_WAREHOUSE` (`module:callable`) opens: glue_local knows no warehouse itself; the
   local cloud's Glue runner names its Redshift stand-in there (COPY read from S3, statements
   logged for `make cost`).

Known gaps vs AWS:
- The COPY, actions and temp files are ours, not the Glue connector's (which writes CSV/Avro);
  what lands in the table is the same. Temp objects are left in S3 (Glue leaves them too; the
  glue-temp bucket's lifecycle rule expires them on AWS).
- preactions/COPY/postactions are one transaction here; on AWS they are separate statements
  (a failed postaction leaves the staging table loaded). A frame with no rows skips the COPY.
- Only Redshift/PostgreSQL JDBC URLs; `aws_iam_role`, `extracopyoptions` and `tempformat`
  options are accepted and ignored.
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from ._s3_source import boto_client, split_s3

WAREHOUSE_ENV = "GLUE_LOCAL_WAREHOUSE"
"""`module:callable` of `connect(dsn)`, returning a connection with `transaction()` and
`execute(sql, label=...) -> result(.kind, .rows)`: the Redshift stand-in a write loads."""
_JDBC = re.compile(r"^jdbc:(redshift|postgresql)://([^:/?]+)(?::(\d+))?/([^?;]+)")
ROLE = "arn:aws:iam::123456789012:role/glue-local"


def connection_dsn(catalog_connection: str, database: str | None = None, catalog_id=None) -> str:
    """A libpq DSN for a Glue JDBC connection, credentials resolved as Glue does."""
    from psycopg.conninfo import make_conninfo

    glue = boto_client("glue")
    kwargs = {"CatalogId": catalog_id} if catalog_id else {}
    try:
        props = glue.get_connection(Name=catalog_connection, **kwargs)["Connection"][
            "ConnectionProperties"
        ]
    except glue.exceptions.EntityNotFoundException:
        raise ValueError(
            f"Glue connection {catalog_connection!r} does not exist in the Data "
            "Catalog: provision it (make up) or fix --REDSHIFT_CONNECTION"
        ) from None
    url = props.get("JDBC_CONNECTION_URL", "")
    match = _JDBC.match(url)
    if not match:
        raise ValueError(
            f"connection {catalog_connection!r}: JDBC_CONNECTION_URL {url!r} is not "
            "jdbc:redshift://host:port/database"
        )
    _, host, port, url_db = match.groups()
    if props.get("SECRET_ID"):
        secret = json.loads(
            boto_client("secretsmanager").get_secret_value(SecretId=props["SECRET_ID"])[
                "SecretString"
            ]
        )
        user, password = secret["username"], secret["password"]
    else:
        user, password = props.get("USERNAME"), props.get("PASSWORD")
    return make_conninfo(
        host=host, port=port or "5439", dbname=database or url_db, user=user, password=password
    )


def split_statements(sql_text: str) -> list[str]:
    """Split preactions/postactions (`;`-separated, as on Glue) at the `;` tokens of sqlglot's
    Redshift tokenizer: never inside a string, a quoted name or a comment. Each statement keeps its
    own text (the warehouse reduces it); a chunk without a token (`;;`, a lone comment) is none."""
    from sqlglot.dialects.redshift import Redshift
    from sqlglot.tokens import TokenType

    text = sql_text or ""
    statements: list[str] = []
    start, tokens = 0, 0
    for token in Redshift().tokenize(text):
        if token.token_type is TokenType.SEMICOLON:
            if tokens:
                statements.append(text[start : token.start].strip())
            start, tokens = token.end + 1, 0
        else:
            tokens += 1
    if tokens:
        statements.append(text[start:].strip())
    return statements


def warehouse_connect():
    """The `connect(dsn)` named by GLUE_LOCAL_WAREHOUSE, or an error saying how to name one."""
    name = os.environ.get(WAREHOUSE_ENV, "").strip()
    if not name:
        raise RuntimeError(
            f"from_jdbc_conf: no warehouse to load: set {WAREHOUSE_ENV} to the "
            "`module:callable` of a Redshift connect(dsn) (the local cloud's Glue "
            "runner sets it)"
        )
    try:
        connect = pkgutil.resolve_name(name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RuntimeError(f"{WAREHOUSE_ENV}={name!r} does not name a callable: {exc}") from None
    if not callable(connect):
        raise RuntimeError(
            f"{WAREHOUSE_ENV}={name!r} names {type(connect).__name__}, not a callable"
        )
    return connect


def write_jdbc_conf(
    glue_context,
    frame,
    catalog_connection: str,
    connection_options: dict,
    redshift_tmp_dir: str,
    catalog_id=None,
) -> None:
    connect = warehouse_connect()
    table = connection_options.get("dbtable")
    if not table:
        raise ValueError("from_jdbc_conf: connection_options['dbtable'] is required")
    if not redshift_tmp_dir:
        raise ValueError("from_jdbc_conf: redshift_tmp_dir is required to load Redshift")
    dsn = connection_dsn(catalog_connection, connection_options.get("database"), catalog_id)
    df = frame.toDF()
    logger = glue_context.get_logger()
    with connect(dsn) as warehouse, warehouse.transaction():
        for statement in split_statements(connection_options.get("preactions", "")):
            warehouse.execute(statement, label="glue preactions")
        source, rows = _stage(df, redshift_tmp_dir)
        if rows:
            columns = ", ".join(df.columns)
            result = warehouse.execute(
                f"COPY {table} ({columns}) FROM '{source}' IAM_ROLE '{ROLE}' "
                "FORMAT AS JSON 'auto' TIMEFORMAT 'auto'",
                label="glue copy",
            )
            logger.info(f"COPY {table}: {result.rows} rows from {source}")
        for statement in split_statements(connection_options.get("postactions", "")):
            result = warehouse.execute(statement, label="glue postactions")
            logger.info(f"{result.kind} ({statement[:60]}...): {result.rows} rows")


def _stage(df, redshift_tmp_dir: str) -> tuple[str, int]:
    """Write the rows as JSON lines to S3; (s3 prefix, row count)."""
    bucket, prefix = split_s3(redshift_tmp_dir.rstrip("/") + "/")
    run_prefix = f"{prefix}glue-local-{uuid.uuid4().hex}/"
    out = Path(tempfile.mkdtemp(prefix="glue-local-stage-"))
    try:
        # Naive timestamps as 'YYYY-MM-DD HH:MM:SS' text (session time zone is UTC).
        cols = [
            F.date_format(c.name, "yyyy-MM-dd HH:mm:ss").alias(c.name)
            if isinstance(c.dataType, TimestampType)
            else F.col(c.name)
            for c in df.schema.fields
        ]
        # Uncompressed: gzip would cost CPU on both sides of a localhost copy.
        (
            df.select(*cols)
            .write.mode("overwrite")
            .option("ignoreNullFields", "true")
            .json(str(out / "rows"))
        )
        s3, rows = boto_client("s3"), 0
        for part in sorted((out / "rows").glob("part-*")):
            rows += _count_lines(part)
            s3.upload_file(str(part), bucket, run_prefix + part.name)
        return f"s3://{bucket}/{run_prefix}", rows
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def write_s3(frame, connection_options: dict, format: str, format_options: dict) -> None:
    """write_dynamic_frame.from_options(connection_type='s3', format='json'|'csv')."""
    path = connection_options.get("path")
    if not path:
        raise ValueError(
            "from_options(connection_type='s3'): connection_options['path'] is required"
        )
    if format not in ("json", "csv"):
        raise NotImplementedError(f"glue_local writes json or csv to S3, not {format!r}")
    bucket, prefix = split_s3(path.rstrip("/") + "/")
    out = Path(tempfile.mkdtemp(prefix="glue-local-out-"))
    try:
        writer = frame.toDF().write.mode("overwrite")
        if format == "csv":
            writer = writer.option("header", str(format_options.get("withHeader", False)).lower())
        getattr(writer, format)(str(out / "rows"))
        s3 = boto_client("s3")
        for part in sorted((out / "rows").glob("part-*")):
            s3.upload_file(str(part), bucket, prefix + part.name)
    finally:
        shutil.rmtree(out, ignore_errors=True)
