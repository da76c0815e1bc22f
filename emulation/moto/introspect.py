"""What the local cloud's console asks moto directly: how many records each Kinesis shard holds.

AWS publishes this as CloudWatch's `IncomingRecords` per shard (enhanced metrics); moto has no
CloudWatch metrics of its own, so the moto server answers `GET /_localcloud/kinesis/shards?region=R`
with, per stream and shard, the record count and the first and last sequence numbers. moto numbers
a shard's records 1, 2, 3, ... (see `emulation.moto.patches.kinesis`), so a consumer's records
behind are `last - its checkpoint`. Each figure is O(1) per shard: asking costs moto nothing.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

SHARDS_PATH = "/_localcloud/kinesis/shards"


def kinesis_shards(region: str) -> dict[str, dict[str, dict[str, int]]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kinesis.models import kinesis_backends

    backend = kinesis_backends[DEFAULT_ACCOUNT_ID][region]
    streams = {}
    for name, stream in list(backend.streams.items()):
        shards = {}
        for shard in list(stream.shards.values()):
            records = shard.records
            last = next(reversed(records), 0) if records else 0
            first = next(iter(records), 0) if records else 0
            shards[shard.shard_id] = {
                "records": len(records),
                "first_sequence": first,
                "last_sequence": last,
                "open": bool(shard.is_open),
            }
        streams[name] = shards
    return streams


def answer(environ, start_response) -> list[bytes]:
    """The WSGI answer to `GET SHARDS_PATH`."""
    region = (parse_qs(environ.get("QUERY_STRING", "")).get("region") or ["us-east-1"])[0]
    body = json.dumps({"region": region, "streams": kinesis_shards(region)}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
