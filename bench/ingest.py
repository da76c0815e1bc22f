"""Benchmark: CPU per event of the ingest function (sales-ingest), and of the moto server behind it.

    python -m bench ingest [--data PATH] [--limit N] [--batch 500] [--rounds 3] [--baseline-tree DIR]

The events of --data (default: the sample) are posted to the ingest handler (loaded by the
description's handler string) as API Gateway proxy events of --batch events each (the replay
client's 500), in-process, against a private patched moto
server with the stream and the tables of the measured tree's description: validation, event-id
claims (`pipeline.claims`, when the tree has them) and PutRecords. Reported per event: the
handler's CPU (this process, every thread) and the moto server's over the same interval.

In-run baseline: as `bench projector` (another tree's `pipeline`, alternated round by round); the
machinery (moto server, subprocess per run) is shared with it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.projector import (
    SAMPLE,
    _cpu_of,
    _records,
    _self_cpu,
    compare_trees,
    create_tables,
    described_handler,
)


def measure(endpoint: str, moto_pid: int, data: Path, limit: int | None, batch: int, tag: str) -> dict:
    import boto3

    from pipeline.resources import PIPELINE

    kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    stream = f"bench-{tag}"
    kinesis.create_stream(StreamName=stream, ShardCount=PIPELINE.stream("sales-events").shard_count)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    names = create_tables(endpoint, tag)
    # CLAIM_TABLE is read only by a tree whose ingest claims event ids.
    handler = described_handler("sales-ingest", endpoint, {
        "STREAM_NAME": stream, "CLAIM_TABLE": names.get("event_claim", "")})
    events = [json.loads(d) for d in _records(data, limit)]
    for event in events:
        del event["line_total"], event["is_cancellation"]
    bodies = [json.dumps({"events": events[i:i + batch]}) for i in range(0, len(events), batch)]

    def post(body):
        response = handler({"httpMethod": "POST", "path": "/events", "body": body,
                            "isBase64Encoded": False, "requestContext": {"requestId": "bench"}}, None)
        if response["statusCode"] != 200:
            raise RuntimeError(f"ingest answered {response['statusCode']}: {response['body'][:300]}")

    post(json.dumps({"events": events[:1]}))  # warm: imports, clients
    started, moto_started, wall = _self_cpu(), _cpu_of(moto_pid), time.perf_counter()
    for body in bodies:
        post(body)
    handler_s, moto_s = _self_cpu() - started, _cpu_of(moto_pid) - moto_started
    return {"events": len(events), "projector_ms": 1000 * handler_s / len(events),
            "moto_ms": 1000 * moto_s / len(events), "wall_s": time.perf_counter() - wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SAMPLE.resolve())
    parser.add_argument("--limit", type=int, default=None, help="first N events only")
    parser.add_argument("--batch", type=int, default=500, help="events per request (the client's 500)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="a tree whose `pipeline` is the baseline")
    parser.add_argument("--child", nargs=4, metavar=("ENDPOINT", "MOTO_PID", "TAG", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        endpoint, pid, tag, _ = args.child
        print(json.dumps(measure(endpoint, int(pid), args.data, args.limit or None, args.batch, tag)))
        return 0
    if args.baseline_tree is None:
        parser.error("bench ingest needs --baseline-tree (a tree whose `pipeline` is the baseline)")
    return compare_trees("bench.ingest", "ingest handler", args)


if __name__ == "__main__":
    sys.exit(main())
