"""The REST API's request models, generated from the pydantic event model.

API Gateway validates request bodies against models written in JSON Schema draft 4, while pydantic
emits draft 2020-12. `draft4()` converts: `$defs` -> `definitions`, `const` -> `enum`, numeric
`exclusiveMinimum/Maximum` -> draft-4 booleans, nullable `anyOf [X, null]` -> `type: [X, "null"]`,
and drops keywords draft 4 does not know. The same schema is served by the local gateway and
deployed by CDK, so both validate exactly what `pipeline.events` validates.
"""

from __future__ import annotations

import copy
from typing import Any

from .events import MAX_BATCH, SaleEvent

DRAFT4 = "http://json-schema.org/draft-04/schema#"

# Draft-4 validation and annotation keywords; anything else pydantic emits is dropped.
_DRAFT4_KEYWORDS = {
    "$ref",
    "$schema",
    "id",
    "title",
    "description",
    "default",
    "type",
    "enum",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "items",
    "additionalItems",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
    "dependencies",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "definitions",
    "format",
}
# Keywords whose value is a map of name -> schema (the names are not keywords).
_SCHEMA_MAPS = {"properties", "patternProperties", "definitions", "dependencies"}


def draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert a pydantic (2020-12) JSON schema to draft 4."""
    schema = copy.deepcopy(schema)
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return _convert(schema)


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/$defs/", "#/definitions/")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    nullable = _nullable_branch(node)
    if nullable is not None:
        node.pop("anyOf")
        node.update(nullable)
        node["type"] = [nullable["type"], "null"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _DRAFT4_KEYWORDS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key in (
            "items",
            "additionalItems",
            "additionalProperties",
            "not",
            "allOf",
            "anyOf",
            "oneOf",
        ):
            out[key] = _convert(value)
        else:
            out[key] = value
    return out


def _nullable_branch(node: dict[str, Any]) -> dict[str, Any] | None:
    """For `anyOf: [{type: T, ...}, {type: null}]` return the T branch, else None."""
    branches = node.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2:
        return None
    nulls = [b for b in branches if b == {"type": "null"}]
    others = [b for b in branches if b != {"type": "null"}]
    if len(nulls) != 1 or "type" not in others[0] or isinstance(others[0]["type"], list):
        return None
    return dict(others[0])


def sale_event_batch_schema() -> dict[str, Any]:
    """The body of POST /events: one event object, or {"events": [1..500 events]}."""
    event = draft4(SaleEvent.model_json_schema())
    event.pop("$schema", None)
    return {
        "$schema": DRAFT4,
        "title": "SaleEventBatch",
        "description": f"One sale event, or a batch of 1..{MAX_BATCH} sale events under 'events'.",
        "definitions": {"SaleEvent": event},
        "oneOf": [
            {"$ref": "#/definitions/SaleEvent"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_BATCH,
                        "items": {"$ref": "#/definitions/SaleEvent"},
                    }
                },
            },
        ],
    }


REQUEST_MODELS: dict[str, dict[str, Any]] = {"SaleEventBatch": sale_event_batch_schema()}
"""Model name -> draft-04 JSON schema, as routes name them (`Route.request_model`)."""
