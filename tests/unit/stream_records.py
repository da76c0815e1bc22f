"""Lambda events exactly as the Kinesis event-source mapping delivers them (shared by unit tests)."""

from __future__ import annotations

import base64
import json
from typing import Any

REGION = "us-east-1"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/sales-events"
FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898


def kinesis_record(data: bytes, sequence: int, *, shard: str = "shardId-000000000000",
                   partition_key: str = "536365") -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": str(sequence),
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/sales-projector-role",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(datas: list[bytes], *, first: int = FIRST_SEQUENCE,
                  shard: str = "shardId-000000000000") -> dict[str, Any]:
    """One batch: record i gets sequence number first + i (real ones grow, not by 1, but in order)."""
    return {"Records": [kinesis_record(d, first + i, shard=shard, partition_key=_invoice_no(d))
                        for i, d in enumerate(datas)]}


def _invoice_no(data: bytes) -> str:
    try:
        return json.loads(data)["invoice_no"]
    except (ValueError, KeyError, TypeError):
        return "unknown"


def sequences(event: dict[str, Any]) -> list[str]:
    return [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
