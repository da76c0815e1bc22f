"""Raises when its batch holds a record whose data contains POISON (bisection isolates it)."""

import base64

from . import recorder


def handler(event, context):
    recorder.record(event, context)
    for r in event["Records"]:
        if b"POISON" in base64.b64decode(r["kinesis"]["data"]):
            raise RuntimeError(f"poison record {r['kinesis']['sequenceNumber']}")
    return {}
