"""DynamoDB in moto 5.2.1: make every request atomic, as each DynamoDB item operation is on AWS.

What moto does wrong: the server is threaded (werkzeug), and moto's DynamoDB backend takes no
lock. A conditional write checks its condition and then writes as two steps, so two requests that
both read version N can both pass `version = N` and the later one silently overwrites the other;
and an `UpdateItem` that creates an item stores the bare key first and its attributes after, so a
concurrent read can see an item without them. The pipeline's event-id claims
(`pipeline.claims`) depend on conditional writes being atomic.

The fix, applied inside the moto server process by `apply()`: one lock held for the whole of each
DynamoDB request (`DynamoHandler.call_action`). The server is bound by one GIL anyway, so
serializing DynamoDB requests costs little throughput; Kinesis, S3 and the other services are not
affected.

Known gaps vs AWS: AWS serializes per item, not per endpoint; `TransactWriteItems` is atomic here
as a side effect too (AWS makes it so by design).
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_original: dict[str, Any] = {}


def _atomic_call_action(self):
    with _LOCK:
        return _original["call_action"](self)


def apply(runtime_url: str | None = None) -> None:
    """Patch moto's DynamoDB request handling in this process (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    if "call_action" in _original:
        return
    _original["call_action"] = DynamoHandler.call_action
    DynamoHandler.call_action = _atomic_call_action


def revert() -> None:
    from moto.dynamodb.responses import DynamoHandler

    if "call_action" in _original:
        DynamoHandler.call_action = _original.pop("call_action")
