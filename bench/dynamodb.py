"""`python -m bench dynamodb [--data PATH] [--rows N|all]`: DynamoDB write units per event, measured
through the real projector on a private local cloud (what docs/deploy.md's cost table uses).

The events go the real way: REST API -> ingest -> Kinesis -> the sales-projector function in its
worker. The workers reach DynamoDB through a recording proxy (`AWS_ENDPOINT_URL_DYNAMODB`, which
boto3 prefers to AWS_ENDPOINT_URL), so every PutItem and BatchWriteItem the projector sends is
seen with its items and its answer, and so are the ingest function's event-id claims (table
`event_claim`: a conditional UpdateItem, sized by reading the item back, and its reads). Each item write is charged as DynamoDB bills it
(developer guide, "DynamoDB read and write operations" and "DynamoDB item sizes and formats"):
  - one write unit per started 1 KB of the item, for PutItem and for each BatchWriteItem put alike;
  - a put that replaces an item is charged on the larger of the old and the new item;
  - a conditional put whose condition fails is still charged, on the existing item (at least 1);
  - items BatchWriteItem returns as unprocessed were not written and are not charged.
Reads are charged too (the projector reads each invoice and customer it merges): one read unit
per started 4 KB of each item returned, half for an eventually consistent read; a key that finds
no item still costs the minimum; keys BatchGetItem returns as unprocessed are not charged.
Item sizes follow the documented rules: names and strings in UTF-8 bytes, numbers 1 byte per two
significant digits plus 1, booleans and nulls 1, lists and maps 3 bytes plus 1 per element.

The in-run baseline is the model the cost table used before this measurement: two item writes of
at most 1 KB per event (invoice + customer), i.e. 2 write units per event.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

SERVICES = ["lambda", "mappings", "api"]
PROJECTOR = "sales-projector"
NAIVE_UNITS_PER_EVENT = 2
"""The earlier cost model: an invoice write and a customer write of at most 1 KB per event."""
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "sample" / "ecommerce-sample.csv.gz"


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: 1 per two significant digits (leading/trailing zeros trimmed),
    plus 1, plus 1 if negative."""
    digits = format(Decimal(text).normalize(), "f").lstrip("-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1 + (1 if text.lstrip().startswith("-") else 0)


def value_size(value: dict) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v) * 3 // 4  # base64 on the wire; the raw bytes count
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in v.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict) -> int:
    """Bytes of an item in DynamoDB JSON (attribute names + values)."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


@dataclass
class Meter:
    """Item writes seen by the proxy, charged by DynamoDB's rules."""

    keys: dict[str, tuple[str, ...]]
    """table -> key attribute names."""
    sizes: dict[tuple, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    failed_conditions: int = 0
    reads: dict[str, float] = field(default_factory=dict)
    """Read units per table."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, table: str, item: dict) -> tuple:
        return (table, *(json.dumps(item[k], sort_keys=True) for k in self.keys[table]))

    def put(self, table: str, item: dict, *, written: bool) -> None:
        with self.lock:
            key = self._key(table, item)
            old = self.sizes.get(key, 0)
            if written:
                new = item_size(item)
                self.sizes[key] = new
                charged = write_units(max(old, new))
                self.writes[table] = self.writes.get(table, 0) + 1
            else:  # a failed condition is charged on the existing item, at least 1 unit
                charged = write_units(old)
                self.failed_conditions += 1
            self.units[table] = self.units.get(table, 0) + charged

    def update(self, table: str, key: dict, after: dict | None, *, written: bool) -> None:
        """An UpdateItem: charged like a put of the item it leaves (`after`, read back by the proxy)."""
        if written and after is not None:
            self.put(table, after, written=True)
        elif not written:
            with self.lock:
                self.failed_conditions += 1
                self.units[table] = self.units.get(table, 0) + write_units(
                    self.sizes.get(self._key(table, key), 0))

    def record(self, target: str, request: dict, status: int, reply: dict,
               after: dict | None = None) -> None:
        if target == "UpdateItem":
            if status == 200:
                self.update(request["TableName"], request["Key"], after, written=True)
            elif "ConditionalCheckFailed" in reply.get("__type", ""):
                self.update(request["TableName"], request["Key"], None, written=False)
        elif target == "PutItem":
            if status == 200:
                self.put(request["TableName"], request["Item"], written=True)
            elif "ConditionalCheckFailed" in reply.get("__type", ""):
                self.put(request["TableName"], request["Item"], written=False)
        elif target == "BatchWriteItem" and status == 200:
            unprocessed = {
                (t, json.dumps(r["PutRequest"]["Item"], sort_keys=True))
                for t, reqs in (reply.get("UnprocessedItems") or {}).items() for r in reqs
                if "PutRequest" in r
            }
            for table, reqs in request["RequestItems"].items():
                for r in reqs:
                    if "PutRequest" not in r:
                        raise ValueError(f"{table}: the meter counts puts only, got {list(r)}")
                    item = r["PutRequest"]["Item"]
                    if (table, json.dumps(item, sort_keys=True)) not in unprocessed:
                        self.put(table, item, written=True)
        elif target == "BatchGetItem" and status == 200:
            for table, spec in request["RequestItems"].items():
                unprocessed = len((reply.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
                found = reply.get("Responses", {}).get(table, [])
                consistent = bool(spec.get("ConsistentRead"))
                charged = sum(read_units(item_size(i), consistent) for i in found)
                missing = len(spec["Keys"]) - unprocessed - len(found)
                charged += missing * read_units(0, consistent)
                with self.lock:
                    self.reads[table] = self.reads.get(table, 0.0) + charged
        elif target == "GetItem" and status == 200:
            item = reply.get("Item")
            charged = read_units(item_size(item) if item else 0, bool(request.get("ConsistentRead")))
            with self.lock:
                self.reads[request["TableName"]] = self.reads.get(request["TableName"], 0.0) + charged
        elif target in ("DeleteItem", "TransactWriteItems", "Query", "Scan", "TransactGetItems"):
            raise ValueError(f"a function sent {target}: the meter does not charge it yet")


class MeteringProxy:
    """HTTP proxy in front of moto's DynamoDB that feeds every write to a Meter."""

    def __init__(self, upstream: str, meter: Meter):
        target = urlsplit(upstream)
        local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = HTTPConnection(target.hostname, target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                op = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                if op in ("PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "TransactWriteItems",
                          "BatchGetItem", "GetItem", "Query", "Scan", "TransactGetItems"):
                    try:
                        request = json.loads(body)
                        after = None
                        if op == "UpdateItem" and response.status == 200:
                            # What the update left: read back (uncharged), to size the write.
                            get = json.dumps({"TableName": request["TableName"], "Key": request["Key"],
                                              "ConsistentRead": True}).encode()
                            plain = {k: v for k, v in headers.items()
                                     if k.lower() not in ("x-amz-target", "content-length")}
                            conn.request("POST", self.path, body=get, headers={
                                **plain, "X-Amz-Target": "DynamoDB_20120810.GetItem",
                                "Content-Length": str(len(get))})
                            after = json.loads(conn.getresponse().read() or b"{}").get("Item")
                        meter.record(op, request, response.status, json.loads(data or b"{}"), after)
                    except Exception as exc:  # noqa: BLE001 - a metering error fails the run
                        proxy.errors.append(f"{op}: {exc!r}")
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self.errors: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="dynamodb-meter", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _projector_caught_up(runtime_url: str) -> float | None:
    with urllib.request.urlopen(runtime_url + "/mappings", timeout=30) as reply:
        mappings = json.loads(reply.read())["mappings"]
    return next((m["caught_up_at"] for m in mappings if m["function"] == PROJECTOR), None)


def measure(data: Path, rows: int | None) -> dict:
    from emulation.control.cloud import LocalCloud
    from emulation.config import CloudConfig
    from pipeline.client.api import EventsApi
    from pipeline.client.replay import replay
    from pipeline.source import SourceFile, read_events

    with tempfile.TemporaryDirectory(prefix="bench-dynamodb-") as tmp:
        config = CloudConfig.on_free_ports(Path(tmp), services=SERVICES)
        resources = __import__("pipeline.resources", fromlist=["PIPELINE"]).PIPELINE
        meter = Meter({t.name: (t.partition_key, *((t.sort_key,) if t.sort_key else ()))
                       for t in resources.tables})
        proxy = MeteringProxy(config.aws_endpoint, meter)
        config.extra_env["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.url
        cloud = LocalCloud(config, out=lambda line: print("  " + line, file=sys.stderr))
        try:
            cloud.start()
            api = EventsApi(cloud.api_url, cloud.api_key, timeout_s=60, pool_size=4)
            try:
                summary = replay(api, read_events(SourceFile.open(data), limit=rows),
                                 batch_size=500, concurrency=4)
            finally:
                api.close()
            sent_at = time.time()
            if not summary.ok:
                raise RuntimeError(f"replay failed: {summary.render()}")
            deadline = time.monotonic() + 1800
            while (_projector_caught_up(cloud.runtime_url) or 0) < sent_at:
                if time.monotonic() > deadline:
                    raise RuntimeError("the projector did not catch up within 30 minutes")
                time.sleep(0.5)
        finally:
            cloud.destroy()
            proxy.close()
    if proxy.errors:
        raise RuntimeError("metering failed: " + "; ".join(proxy.errors[:5]))
    events = summary.accepted
    units = sum(meter.units.values())
    if not events or not units:
        raise RuntimeError(f"nothing measured: {events} events, {units} write units")
    return {
        "events": events,
        "item_writes": dict(sorted(meter.writes.items())),
        "write_units": dict(sorted(meter.units.items())),
        "failed_conditions": meter.failed_conditions,
        "read_units": {t: round(u, 1) for t, u in sorted(meter.reads.items())},
        "read_units_per_event": round(sum(meter.reads.values()) / events, 4),
        "write_units_per_event": round(units / events, 4),
        "baseline_units_per_event": NAIVE_UNITS_PER_EVENT,
        "ratio_to_baseline": round(units / events / NAIVE_UNITS_PER_EVENT, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench dynamodb", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset (.csv or .csv.gz)")
    parser.add_argument("--rows", default="all", help="lines to replay (N or all; default all)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if args.rows != "all" and not (args.rows.isdigit() and int(args.rows) > 0):
        parser.error(f"--rows {args.rows!r}: a positive number or all")
    result = measure(args.data, None if args.rows == "all" else int(args.rows))
    per_event = result["write_units_per_event"]
    print(f"dynamodb: {result['events']} events -> {sum(result['item_writes'].values())} item writes, "
          f"{sum(result['write_units'].values())} write units ({per_event} per event; "
          f"{result['ratio_to_baseline']}x the {NAIVE_UNITS_PER_EVENT}-per-event model); "
          f"{result['read_units_per_event']} read units per event")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
