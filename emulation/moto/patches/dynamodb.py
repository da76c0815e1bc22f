"""DynamoDB in moto 5.2.1: write item responses with orjson instead of the generic serializer.

What moto does slowly (moto/core/serialize.py): every response goes through a serializer that
walks the operation's botocore output shape value by value (an `AttributePicker` lookup per
attribute, per nested map entry, per list element). An `invoice` item holds a map of lines, each
a list of six values, so reading or writing a few dozen invoices spent most of the server's time
there: profiled under the stream benchmark, serialization was ~52% of the DynamoDB request time.

The fix, applied inside the moto server process by `apply()`: for the item operations below, a
successful result (moto has already turned it into plain dicts: `DynamoResult`) is written with
`orjson.dumps`, writing what the serializer would write: the output shape's top-level members
only, bytes (B, BS) as base64 text, datetimes as epoch seconds, the JSON protocol's Content-Type. Errors and every other operation
(tables, TTL, backups, ...) keep moto's serializer. tests/component/test_moto_response_patches.py holds
both serializers to the same output for every attribute type and every patched operation.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import base64
import datetime
import functools
from typing import Any

import orjson

ITEM_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem",
    "Query", "Scan", "TransactGetItems", "TransactWriteItems",
})  # fmt: skip
CONTENT_TYPE = "application/x-amz-json-1.0"

_original: dict[str, Any] = {}


def _encode(value: Any) -> Any:
    """What the JSON protocol's serializer does with the non-JSON values moto's results hold."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # botocore's serializer reads a naive datetime as UTC
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    raise TypeError(f"cannot write {type(value).__name__} in a DynamoDB response")


def serialize_item_result(result: dict[str, Any], members: frozenset[str] | None = None) -> bytes:
    """A successful item operation's result as its response body: the output shape's `members`
    only (moto adds a legacy `ConsumedCapacityUnits` the serializer leaves out), no None value."""
    kept = {k: v for k, v in result.items() if v is not None and (members is None or k in members)}
    return orjson.dumps(kept, default=_encode, option=orjson.OPT_PASSTHROUGH_DATETIME)


@functools.cache
def _output_members(operation: str) -> frozenset[str]:
    from moto.core.utils import get_service_model

    return frozenset(get_service_model("dynamodb").operation_model(operation).output_shape.members)


def _serialized(self, action_result):
    from moto.core.responses import ActionResult

    result = getattr(action_result, "result", None)
    if (
        isinstance(action_result, ActionResult)
        and isinstance(result, dict)
        and self._get_action() in ITEM_OPERATIONS
    ):
        headers = {"Content-Type": CONTENT_TYPE}
        headers.update(self.response_headers)
        return 200, headers, serialize_item_result(result, _output_members(self._get_action()))
    return _original["serialized"](self, action_result)


def apply(runtime_url: str | None = None) -> None:
    """Patch moto's DynamoDB response writing in this process (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    if "serialized" in _original:
        return
    _original["serialized"] = DynamoHandler.serialized
    DynamoHandler.serialized = _serialized


def revert() -> None:
    """Restore stock moto (tests compare both serializers in one process)."""
    from moto.dynamodb.responses import DynamoHandler

    if "serialized" in _original:
        DynamoHandler.serialized = _original.pop("serialized")
