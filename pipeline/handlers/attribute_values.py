"""DynamoDB attribute values of plain Python items, without boto3's TypeSerializer per attribute.

The projector writes and reads items whose invoice lines are lists inside a map: boto3's
`TypeSerializer`/`TypeDeserializer` dispatch every nested value through a chain of isinstance
checks and a getattr, which made them a large share of the projector's CPU. These functions give
exactly their output for the types the items hold (str, int, Decimal, bool, None, list, dict:
matched by exact type, numbers through the same DYNAMODB_CONTEXT, so the same rounding errors and
the same refusal of Infinity and NaN) and hand any other value to boto3's own classes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer

_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()
_create_decimal = DYNAMODB_CONTEXT.create_decimal


def to_attribute(value: Any) -> dict[str, Any]:
    """`TypeSerializer().serialize(value)`."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int or kind is Decimal:
        number = str(_create_decimal(value))
        if number in ("Infinity", "NaN"):
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}
    if kind is list:
        return {"L": [to_attribute(v) for v in value]}
    if kind is dict:
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    return _SERIALIZER.serialize(value)


def from_attribute(value: dict[str, Any]) -> Any:
    """`TypeDeserializer().deserialize(value)`."""
    if len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "S":
            return inner
        if kind == "N":
            return _create_decimal(inner)
        if kind == "L":
            return [from_attribute(v) for v in inner]
        if kind == "M":
            return {k: from_attribute(v) for k, v in inner.items()}
        if kind == "BOOL":
            return inner
        if kind == "NULL":
            return None
    return _DESERIALIZER.deserialize(value)


def to_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in item.items()}


def from_item(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: from_attribute(v) for k, v in raw.items()}
