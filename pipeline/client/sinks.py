"""Read the pipeline's sinks back as reconciliation figures (client side: boto3 and psycopg).

Every reader counts only the replayed events (`Scope`: the source file's id prefix and the
replayed line range), so sinks that also hold other files or earlier, longer replays still
reconcile. DynamoDB's invoice items are read with their `lines` maps (keyed by event id, see
`pipeline.projections`); the archive is read incrementally (objects are immutable, so each is read
once across polls); the warehouse is asked with one aggregate query.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pipeline.reconcile import FigureBuilder, Figures
from pipeline.resources import ARCHIVE_PREFIX, PIPELINE

GLUE_DONE = {"SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"}


@dataclass(frozen=True)
class Scope:
    prefix: str
    """First 16 hex digits of the source's sha256 (the event-id prefix)."""
    first_line: int
    last_line: int

    def __contains__(self, event_id: str) -> bool:
        prefix, _, number = event_id.partition(":")
        return prefix == self.prefix and number.isdigit() and self.first_line <= int(number) <= self.last_line


def _client(service: str, endpoint: str | None, region: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint or None, region_name=region)


def read_dynamodb(scope: Scope, *, endpoint: str | None, region: str,
                  invoice_table: str = "invoice", customer_table: str = "customer") -> Figures:
    """Figures of the invoice items' lines in scope; customers = customer items with such invoices."""
    dynamodb = _client("dynamodb", endpoint, region)
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    builder = FigureBuilder()
    invoices_in_scope: set[str] = set()
    for item in _scan(dynamodb, invoice_table, "invoice_no, customer_id, #l", {"#l": "lines"}):
        invoice_no = des.deserialize(item["invoice_no"])
        customer = des.deserialize(item["customer_id"]) if "customer_id" in item else None
        for event_id, line in des.deserialize(item.get("lines", {"M": {}})).items():
            if event_id in scope:
                # Stored line: [stock_code, description, quantity, unit_price, line_total, date].
                builder.add_line(event_id, invoice_no, customer, int(line[2]), Decimal(line[4]))
                invoices_in_scope.add(invoice_no)
    figures = builder.figures()
    customers = 0
    for item in _scan(dynamodb, customer_table, "customer_id, invoices", {}):
        invoices = des.deserialize(item.get("invoices", {"M": {}}))
        if invoices_in_scope.intersection(invoices):
            customers += 1
    return Figures(figures.lines, figures.invoices, customers, figures.quantity, figures.revenue,
                   figures.cancellations)


def _scan(dynamodb, table: str, projection: str, names: dict[str, str]):
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": projection}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    while True:
        page = dynamodb.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=ARCHIVE_PREFIX):
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


_FIGURES_SQL = """
SELECT COUNT(*), COUNT(DISTINCT invoice_no), COUNT(DISTINCT customer_id),
       COALESCE(SUM(quantity), 0), COALESCE(SUM(line_total), 0),
       COALESCE(SUM(CASE WHEN is_cancellation THEN 1 ELSE 0 END), 0)
FROM {table}
WHERE event_id LIKE %s
  AND CAST(SPLIT_PART(event_id, ':', 2) AS INTEGER) BETWEEN %s AND %s
"""


def read_warehouse(scope: Scope, dsn: str, table: str) -> Figures:
    """Figures of `table` (stream.sales_events_dedup or analytics.sales) for the scope."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(
            _FIGURES_SQL.format(table=table), (f"{scope.prefix}:%", scope.first_line, scope.last_line)
        ).fetchone()
    lines, invoices, customers, quantity, revenue, cancellations = row
    return Figures(int(lines), int(invoices), int(customers), int(quantity), _plain(Decimal(revenue)),
                   int(cancellations))


def _plain(value: Decimal) -> Decimal:
    """Drop the column's trailing zeros (DECIMAL(38,6)) without switching to exponent form."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def run_batch_job(*, endpoint: str | None, region: str, job_name: str = "sales-batch-load",
                  timeout_s: float = 1800, poll_s: float = 5.0, log=print) -> str:
    """StartJobRun and wait for a final state with GetJobRun; return it (SUCCEEDED or an error)."""
    from pipeline.glue.catalog_partitions import register_new_partitions
    from pipeline.resources import PIPELINE

    glue = _client("glue", endpoint, region)
    # The job reads through the Data Catalog: partitions the archive gained since the last crawl
    # would otherwise be invisible to it.
    for table in PIPELINE.glue_tables:
        new = register_new_partitions(glue, _client("s3", endpoint, region), table.database, table.name)
        log(f"batch: registered {len(new)} new partitions of {table.database}.{table.name}")
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
