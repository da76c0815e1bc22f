"""Benchmark: records per second a no-op Lambda consumer receives through one Kinesis mapping.

    python -m bench.mapping_throughput [--records 30000]

`run(cloud)` takes a running local cloud (`emulation.control.cloud.LocalCloud`, or anything with `client()`
and `runtime_url`) whose description has the stream `t-bench` (1 shard) mapped to the no-op function
`noop` with BatchSize 10,000 (tests/integration/test_resources_lambda.py:RESOURCES).

To time the consumer rather than the producer, the stream is filled while the mapping is held: a
fault switch gives the no-op function latency, one "gate" record is put, and while that invocation
sleeps the backlog is written. The clock starts when the gate invocation returns and stops when
the mapping reports every backlog record handled (`GET /mappings`, polled every 20 ms). The
in-run baseline is the ceiling moto itself allows: reading the same backlog with GetRecords
(Limit 10,000) and nothing else.

`main()` starts its own cloud (moto, warehouse and the runtime's `lambda` + `mappings` services) on
free ports in a temporary folder and stops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH_RESOURCES = "tests.integration.test_resources_lambda:RESOURCES"
STREAM, FUNCTION = "t-bench", "noop"
TARGET_RECORDS_PER_S = 10_000


def _control(runtime_url: str, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(
        urllib.request.Request(runtime_url + path, data=data, method=method), timeout=30
    ) as reply:
        return json.loads(reply.read() or b"null")


def _mapping(runtime_url: str) -> dict:
    return next(
        m
        for m in _control(runtime_url, "GET", "/mappings")["mappings"]
        if m["function"] == FUNCTION
    )


def _wait(
    runtime_url: str, predicate, timeout: float, what: str, interval: float = 0.02
) -> tuple[float, dict]:
    deadline = time.monotonic() + timeout
    while True:
        status = _mapping(runtime_url)
        if predicate(status):
            return time.perf_counter(), status
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"mapping {STREAM} -> {FUNCTION}: {what} within {timeout:.0f} s: {status}"
            )
        time.sleep(interval)


def _sale(i: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"0123456789abcdef:{i}",
            "invoice_no": "536365",
            "stock_code": "85123A",
            "description": "WHITE HANGING HEART T-LIGHT HOLDER",
            "quantity": 6,
            "invoice_date": "2010-12-01T08:26:00",
            "unit_price": "2.55",
            "customer_id": "17850",
            "country": "United Kingdom",
            "line_total": "15.30",
            "is_cancellation": False,
        }
    ).encode()


def _fill(kinesis, records: int) -> float:
    began = time.perf_counter()
    for start in range(0, records, 500):
        reply = kinesis.put_records(
            StreamName=STREAM,
            Records=[
                {"Data": _sale(i), "PartitionKey": str(i)}
                for i in range(start, min(start + 500, records))
            ],
        )
        if reply["FailedRecordCount"]:
            raise RuntimeError(
                f"PutRecords rejected {reply['FailedRecordCount']} records while filling"
            )
    return time.perf_counter() - began


def baseline(cloud, after_sequence: str, records: int) -> dict:
    """GetRecords alone over the same backlog: the rate moto can serve, nothing delivered."""
    from emulation.kinesis.reader import KinesisReader

    kinesis = cloud.client("kinesis")
    reader = KinesisReader(cloud.config.aws_endpoint, cloud.config.region, kinesis)
    iterator = reader.iterator(
        STREAM, "shardId-000000000000", "AFTER_SEQUENCE_NUMBER", sequence_number=after_sequence
    )
    read, began = 0, time.perf_counter()
    while read < records:
        page = reader.get_records(iterator)
        read += len(page.records)
        iterator = page.next_iterator
        if not page.records:
            break
    elapsed = time.perf_counter() - began
    return {
        "records": read,
        "seconds": round(elapsed, 3),
        "records_per_s": round(read / elapsed, 1),
    }


def run(cloud, records: int = 30_000) -> dict:
    url = cloud.runtime_url
    kinesis = cloud.client("kinesis")
    _control(url, "DELETE", "/faults")
    base = _mapping(url)["records_succeeded"]
    kinesis.put_records(StreamName=STREAM, Records=[{"Data": b"warm-up", "PartitionKey": "w"}])
    _wait(
        url, lambda m: m["records_succeeded"] >= base + 1, 60, "warm-up record not handled"
    )  # cold start

    hold_ms = int(
        max(5.0, records / 2000 + 3) * 1000
    )  # generous: fills run at ~4-6k records/s here
    _control(url, "POST", "/faults", {"function": FUNCTION, "latency_ms": hold_ms})
    gate = kinesis.put_records(StreamName=STREAM, Records=[{"Data": b"gate", "PartitionKey": "g"}])
    gate_sequence = gate["Records"][0]["SequenceNumber"]
    _wait(
        url,
        lambda m: any(s["in_flight"] for s in m["shards"].values()),
        30,
        "gate record not in flight",
    )
    _control(url, "DELETE", "/faults")  # the gate invocation already carries its latency
    fill_s = _fill(kinesis, records)
    if _mapping(url)["records_succeeded"] >= base + 2:
        raise RuntimeError(
            f"filling {records} records took {fill_s:.1f} s, longer than the {hold_ms} ms hold: "
            "lower --records"
        )
    started, _ = _wait(
        url, lambda m: m["records_succeeded"] >= base + 2, hold_ms / 1000 + 60, "gate not released"
    )
    ended, status = _wait(
        url, lambda m: m["records_succeeded"] >= base + 2 + records, 600, "backlog not drained"
    )
    elapsed = ended - started
    mapped = {
        "records": records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed, 1),
        "invocations": status["invocations"],
        "function_errors": status["function_errors"],
    }
    ceiling = baseline(cloud, gate_sequence, records)
    return {
        "benchmark": "mapping_throughput",
        "batch_size": status["batch_size"],
        "fill": {
            "records": records,
            "seconds": round(fill_s, 3),
            "records_per_s": round(records / fill_s, 1),
        },
        "mapping": mapped,
        "baseline_get_records_only": ceiling,
        "mapping_vs_get_records": round(mapped["records_per_s"] / ceiling["records_per_s"], 3),
        "target_records_per_s": TARGET_RECORDS_PER_S,
        "meets_target": mapped["records_per_s"] >= TARGET_RECORDS_PER_S
        and status["function_errors"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mapping_throughput", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=30_000, help="backlog size (default 30000)")
    args = parser.parse_args(argv)
    if args.records < 1000:
        parser.error("--records must be at least 1000 for a meaningful rate")
    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    with tempfile.TemporaryDirectory(prefix="bench-mapping-") as tmp:
        config = CloudConfig.on_free_ports(
            Path(tmp), resources=BENCH_RESOURCES, services=["lambda", "mappings"]
        )
        cloud = LocalCloud(config, out=lambda line: print(line, file=sys.stderr))
        try:
            cloud.start()
            result = run(cloud, args.records)
        finally:
            cloud.destroy()  # also deletes a warehouse relocated under /tmp (running as root)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
