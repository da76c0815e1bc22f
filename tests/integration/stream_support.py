"""Shared helpers of the stream-path integration tests (test_stream_*.py).

The expected side of every check is computed here from the source CSV with the standard library
(csv + Decimal), independently of `pipeline.source` / `pipeline.reconcile`, and the sinks are read
back with plain boto3 / psycopg, independently of `pipeline.client.sinks`: a bug shared by the
product's reader and its reconciliation cannot hide itself.

Waiting is always bounded: `settle()` waits until the event-source mappings and Firehose report
`caught_up_at` later than a given moment (GET /mappings, GET /firehose on the runtime port), so a
test reads the sinks only once nothing written before that moment is still in flight.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

from emulation.config import REPO_ROOT
from pipeline.client.api import EventsApi
from pipeline.client.replay import Summary, replay
from pipeline.resources import ARCHIVE_PREFIX, PIPELINE
from pipeline.source import SourceFile, read_events

SAMPLE = REPO_ROOT / "data" / "sample" / "ecommerce-sample.csv.gz"
FULL_DATA = REPO_ROOT.parent / "shared" / "data" / "ecommerce-data.csv.gz"

# data/sample/README.md and docs/events.md: what every sink must hold after a replay.
SAMPLE_FIGURES = {
    "lines": 3933,
    "invoices": 137,
    "customers": 90,
    "quantity": 27038,
    "revenue": "47832.942",
    "cancellations": 30,
}
FULL_FIGURES = {
    "lines": 541909,
    "invoices": 25900,
    "customers": 4372,
    "quantity": 5176450,
    "revenue": "9747747.934",
    "cancellations": 9288,
}

# The real description with one difference: Firehose flushes after 2 s instead of 60 s, so the
# fault tests (each of which needs the warehouse loaded) do not wait a minute apiece.
FAST_FIREHOSE = PIPELINE.model_copy(
    update={
        "firehoses": (PIPELINE.firehoses[0].model_copy(update={"buffer_interval_s": 2}),),
    }
)
FAST_FIREHOSE_SPEC = "tests.integration.stream_support:FAST_FIREHOSE"

INVOICE_TABLE, CUSTOMER_TABLE = "invoice", "customer"
STREAM = "sales-events"


# ------------------------------------------------------------------------------- the source
@dataclass(frozen=True)
class Line:
    event_id: str
    invoice_no: str
    customer_id: str | None
    country: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    invoice_date: str
    """`YYYY-MM-DDTHH:MM:SS` (the source's `M/D/YYYY H:MM`)."""
    stock_code: str


def source_lines(path: Path) -> dict[str, Line]:
    """event_id -> Line, read with the csv module (latin-1, physical line numbers)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    prefix = hashlib.sha256(raw).hexdigest()[:16]
    reader = csv.reader(io.StringIO(raw.decode("latin-1"), newline=""))
    next(reader)
    lines: dict[str, Line] = {}
    for row in reader:
        if not row:
            continue
        invoice, stock, _desc, qty, date, price, customer, country = row
        event_id = f"{prefix}:{reader.line_num}"
        quantity, unit_price = int(qty), Decimal(price)
        when = datetime.strptime(date, "%m/%d/%Y %H:%M").strftime("%Y-%m-%dT%H:%M:%S")
        lines[event_id] = Line(
            event_id,
            invoice,
            customer or None,
            country,
            quantity,
            unit_price,
            quantity * unit_price,
            when,
            stock,
        )
    return lines


def figures(lines) -> dict[str, Any]:
    """The reconciliation figures of some Lines (docs/events.md), revenue as a plain string."""
    lines = list(lines)
    revenue = sum((ln.line_total for ln in lines), Decimal(0))
    return {
        "lines": len(lines),
        "invoices": len({ln.invoice_no for ln in lines}),
        "customers": len({ln.customer_id for ln in lines if ln.customer_id}),
        "quantity": sum(ln.quantity for ln in lines),
        "revenue": _plain(revenue),
        "cancellations": sum(1 for ln in lines if ln.invoice_no.startswith("C")),
    }


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def derived_source(tmp_path: Path, name: str, rows: slice) -> Path:
    """A CSV holding the sample's header and `rows` of its sale lines, byte for byte (latin-1,
    CRLF): another file, hence another event-id prefix, so tests sharing a cloud stay apart."""
    raw = gzip.decompress(SAMPLE.read_bytes()).split(b"\r\n")
    header, body = raw[0], [r for r in raw[1:] if r]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(b"\r\n".join([header, *body[rows]]) + b"\r\n")
    return path


def events_of(path: Path) -> list:
    return list(read_events(SourceFile.open(path)))


# ------------------------------------------------------------------------------- the client
def replay_events(
    cloud,
    events,
    *,
    api_key: str | None = None,
    batch_size: int = 500,
    concurrency: int = 4,
    on_batch=None,
    transport=None,
    timeout_s: float = 30.0,
) -> Summary:
    """The replay client's own code (EventsApi + replay) against the cloud's REST API."""
    api = EventsApi(
        cloud.api_url,
        api_key or cloud.api_key,
        timeout_s=timeout_s,
        pool_size=concurrency,
        transport=transport,
    )
    try:
        return replay(
            api, events, batch_size=batch_size, concurrency=concurrency, on_batch=on_batch
        )
    finally:
        api.close()


def post_events(
    cloud,
    body: bytes | str,
    *,
    api_key: str | None = "default",
    content_type: str = "application/json",
    timeout: float = 60.0,
) -> httpx.Response:
    headers = {"content-type": content_type}
    key = cloud.api_key if api_key == "default" else api_key
    if key:
        headers["x-api-key"] = key
    return httpx.post(f"{cloud.api_url}/events", content=body, headers=headers, timeout=timeout)


# ------------------------------------------------------------------------------- waiting
def wait_until(check, *, timeout: float, what: str, every: float = 0.5):
    """Call `check()` until it returns a truthy value; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {value!r})")
        time.sleep(every)


def control(cloud, path: str) -> Any:
    return httpx.get(f"{cloud.runtime_url}{path}", timeout=10).json()


def settle(cloud, since: float, *, timeout: float, firehose: bool = True) -> None:
    """Wait until every mapping (and Firehose) has handled every record written before `since`."""

    def caught_up() -> bool | list[str]:
        behind = [
            m["function"]
            for m in control(cloud, "/mappings")["mappings"]
            if (m["caught_up_at"] or 0) < since
        ]
        if firehose:
            behind += [
                d["name"]
                for d in control(cloud, "/firehose")["deliveries"]
                if (d["caught_up_at"] or 0) < since
            ]
        return not behind or False

    wait_until(caught_up, timeout=timeout, what=f"sinks caught up with records before {since:.1f}")


def mapping_stats(cloud) -> dict[str, dict[str, Any]]:
    return {m["function"]: m for m in control(cloud, "/mappings")["mappings"]}


# ------------------------------------------------------------------------------- the stream
class StreamWatch:
    """Records put on the stream after construction: a LATEST iterator per shard, read later."""

    def __init__(self, cloud, stream: str = STREAM):
        self.kinesis = cloud.client("kinesis")
        self.stream = stream
        shards = self.kinesis.list_shards(StreamName=stream)["Shards"]
        self.iterators = {
            s["ShardId"]: self.kinesis.get_shard_iterator(
                StreamName=stream, ShardId=s["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for s in shards
        }

    def new_records(self) -> list[dict[str, Any]]:
        found = []
        for sid, iterator in self.iterators.items():
            while iterator:
                page = self.kinesis.get_records(ShardIterator=iterator, Limit=10000)
                found += [{**r, "ShardId": sid} for r in page["Records"]]
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
            self.iterators[sid] = iterator
        return found


# ------------------------------------------------------------------------------- the sinks
def dynamodb_items(cloud, table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    des, client, items, kwargs = (
        TypeDeserializer(),
        cloud.client("dynamodb"),
        [],
        {"TableName": table},
    )
    while True:
        page = client.scan(ConsistentRead=True, **kwargs)
        items += [{k: des.deserialize(v) for k, v in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dynamodb_digest(cloud) -> str:
    """A digest of both tables' content: equal digests, unchanged tables."""
    content = {
        t: sorted(json.dumps(i, sort_keys=True, default=str) for i in dynamodb_items(cloud, t))
        for t in (INVOICE_TABLE, CUSTOMER_TABLE)
    }
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def dynamodb_lines(cloud, prefix: str) -> dict[str, tuple[str, int, Decimal]]:
    """event_id -> (invoice_no, quantity, line_total) for the invoice lines of one source file."""
    found = {}
    for item in dynamodb_items(cloud, INVOICE_TABLE):
        for event_id, line in item.get("lines", {}).items():
            if event_id.startswith(prefix + ":"):
                # Stored line: [stock_code, description, quantity, unit_price, line_total, date].
                found[event_id] = (item["invoice_no"], int(line[2]), Decimal(line[4]))
    return found


def archive_counts(cloud, prefix: str) -> Counter:
    """event_id -> number of archive lines holding it (one file's events only)."""
    s3 = cloud.client("s3")
    bucket = cloud.names.bucket("raw-archive")
    counts: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ARCHIVE_PREFIX):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            for raw in body.splitlines():
                event_id = json.loads(raw)["event_id"]
                if event_id.startswith(prefix + ":"):
                    counts[event_id] += 1
    return counts


def warehouse_counts(cloud, prefix: str, table: str = "stream.sales_events") -> Counter:
    with psycopg.connect(cloud.warehouse_dsn, connect_timeout=10) as conn:
        rows = conn.execute(
            f"SELECT event_id, COUNT(*) FROM {table} WHERE event_id LIKE %s GROUP BY event_id",
            (prefix + ":%",),
        ).fetchall()
    return Counter({event_id: n for event_id, n in rows})


def warehouse_figures(
    cloud, prefix: str, table: str = "stream.sales_events_dedup"
) -> dict[str, Any]:
    with psycopg.connect(cloud.warehouse_dsn, connect_timeout=10) as conn:
        row = conn.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT invoice_no), COUNT(DISTINCT customer_id), "
            f"COALESCE(SUM(quantity), 0), COALESCE(SUM(line_total), 0), "
            f"COUNT(*) FILTER (WHERE is_cancellation) FROM {table} WHERE event_id LIKE %s",
            (prefix + ":%",),
        ).fetchone()
    keys = ("lines", "invoices", "customers", "quantity", "revenue", "cancellations")
    values = dict(zip(keys, row, strict=True))
    values["revenue"] = _plain(values["revenue"])
    return values


def assert_every_sink_exact(
    cloud,
    expected: dict[str, Line],
    *,
    resent: frozenset[str] = frozenset(),
    copies: Counter | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Every event of `expected` is in DynamoDB, the archive and the warehouse exactly once.

    `resent`: event ids the producer put on the stream twice (a client re-send). The archive and the
    warehouse table are logs of the stream, so they hold those twice by design; DynamoDB's line
    maps and the warehouse's dedup view must still hold each once. `copies` (instead of `resent`):
    how many records of each event the stream holds, read from the stream itself (a crash leaves
    re-sends nobody can list beforehand); the logs must hold exactly that many.
    """
    prefix = next(iter(expected)).split(":")[0]
    missing: dict[str, int] = {}

    def complete() -> bool:
        missing.update(
            {
                "dynamodb": len(set(expected) - set(dynamodb_lines(cloud, prefix))),
                "archive": len(set(expected) - set(archive_counts(cloud, prefix))),
                "warehouse": len(set(expected) - set(warehouse_counts(cloud, prefix))),
            }
        )
        return not any(missing.values())

    try:
        wait_until(
            complete,
            timeout=timeout,
            what=f"every sink holds the {len(expected)} events of {prefix}",
            every=2.0,
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; events missing per sink: {missing}; firehose: "
            f"{control(cloud, '/firehose')['deliveries']}"
        ) from None
    settle(cloud, time.time(), timeout=timeout)
    want = Counter({eid: 2 if eid in resent else 1 for eid in expected})
    if copies is not None:
        assert set(copies) == set(expected), (
            f"the stream lacks {len(set(expected) - set(copies))} events and holds "
            f"{len(set(copies) - set(expected))} unknown ones")
        want = Counter(copies)

    lines = dynamodb_lines(cloud, prefix)
    assert set(lines) == set(expected), "DynamoDB invoice lines differ from the source"
    wrong = [
        eid
        for eid, (inv, qty, total) in lines.items()
        if (inv, qty, total)
        != (expected[eid].invoice_no, expected[eid].quantity, expected[eid].line_total)
    ]
    assert not wrong, f"DynamoDB lines with wrong values: {wrong[:5]}"

    archive = archive_counts(cloud, prefix)
    assert archive == want, (
        f"archive: missing {set(want) - set(archive)}, extra "
        f"{ {k: v for k, v in archive.items() if v != want.get(k)} }"
    )
    table = warehouse_counts(cloud, prefix)
    assert table == want, (
        f"warehouse table: { {k: v for k, v in table.items() if v != want.get(k)} }"
    )
    dedup = warehouse_counts(cloud, prefix, "stream.sales_events_dedup")
    assert dedup == Counter(dict.fromkeys(expected, 1))
    assert warehouse_figures(cloud, prefix) == figures(expected.values())
    return {"archive_lines": sum(archive.values()), "warehouse_rows": sum(table.values())}


def sqs_messages(cloud, queue: str, *, wait_s: int = 1) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    out = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        batch = page.get("Messages", [])
        if not batch:
            return out
        for message in batch:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def record_data(record: dict[str, Any]) -> bytes:
    data = record["Data"]
    return data if isinstance(data, bytes) else base64.b64decode(data)
