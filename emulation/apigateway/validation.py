"""API Gateway request-body validation against a route's model (JSON Schema draft 4).

Emulates: a method with a body validator and an `application/json` model rejects, before any
integration runs, a body that is not JSON or does not match the schema: 400
`{"message": "Invalid request body"}`. A content type other than JSON on such a route is 415
`{"message": "Unsupported Media Type"}`; a missing Content-Type is taken as application/json, as
API Gateway does.

Our addition (a deliberate extension; the OpenAPI document's `GatewayError` schema describes it):
the 400 body also carries
`"errors": [{"path": "<JSON Pointer>", "message": "..."}]`, one entry per violation (at most
`MAX_ERRORS`), so a client can tell which field is wrong. `path` is an RFC 6901 pointer into the
request body (`/events/3/quantity`; `""` is the whole body); for a missing required property it
points at the property that should exist. AWS sends only `message` (its detail string is in
`$context.error.validationErrorString`), so clients must treat `errors` as optional.

A body nested deeper than Python's JSON parser recurses (about 1,000 levels) is 400 `Invalid
request body` saying it is nested too deeply: the parser's RecursionError is caught, never left to
kill the connection's thread. A body the model refuses is measured before jsonschema lists its
violations (jsonschema quotes the instance, recursing through it): deeper than `MAX_DEPTH`, it is
refused with the same message. (A model's own depth bounds what it accepts.)

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError

MAX_ERRORS = 25
JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class BodyProblem:
    status: int
    message: str
    errors: tuple[dict[str, str], ...] = ()

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"message": self.message}
        if self.errors:
            doc["errors"] = list(self.errors)
        return doc


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class ModelValidator:
    """One compiled draft-4 schema per model; `check()` is thread-safe.

    Accept/reject is decided by fastjsonschema (compiled to Python: a 500-event batch takes ~3 ms
    instead of ~140 ms); jsonschema then lists the violations of a rejected body only.
    """

    def __init__(self, models: dict[str, dict[str, Any]]):
        self._validators: dict[str, Draft4Validator] = {}
        self._fast: dict[str, Any] = {}
        for name, schema in models.items():
            try:
                Draft4Validator.check_schema(schema)
                # API Gateway neither fills defaults in nor checks `format`.
                self._fast[name] = fastjsonschema.compile(
                    schema, use_default=False, use_formats=False, detailed_exceptions=False
                )
            except (SchemaError, fastjsonschema.JsonSchemaDefinitionException) as exc:
                reason = getattr(exc, "message", str(exc))
                raise ValueError(
                    f"request model {name!r} is not a valid draft-4 schema: {reason}"
                ) from exc
            self._validators[name] = Draft4Validator(schema)

    def __contains__(self, name: str) -> bool:
        return name in self._validators

    def check(
        self, model: str, content_type: str | None, body: bytes
    ) -> tuple[Any, BodyProblem | None]:
        """The parsed body, or the problem that makes API Gateway reject it."""
        media = (content_type or "application/json").split(";", 1)[0].strip().lower()
        if media not in JSON_TYPES:
            return None, BodyProblem(
                415,
                "Unsupported Media Type",
                (
                    {
                        "path": "",
                        "message": f"content type {media!r} is not accepted here: send application/json",
                    },
                ),
            )
        try:
            document = json.loads(body.decode("utf-8")) if body.strip() else _EMPTY
        except (UnicodeDecodeError, ValueError) as exc:
            return None, BodyProblem(
                400,
                "Invalid request body",
                ({"path": "", "message": f"the body is not valid UTF-8 JSON: {exc}"},),
            )
        except RecursionError:  # the parser recurses once per level: a hostile body must not win
            return None, BodyProblem(
                400, "Invalid request body", ({"path": "", "message": NESTED_TOO_DEEPLY},)
            )
        if document is _EMPTY:
            return None, BodyProblem(
                400,
                "Invalid request body",
                ({"path": "", "message": "the body is empty: a JSON document is required"},),
            )
        try:
            self._fast[model](document)
            return document, None
        except fastjsonschema.JsonSchemaValueException as exc:
            try:  # jsonschema quotes the instance in its messages, recursing through its depth
                errors = (
                    [{"path": "", "message": NESTED_TOO_DEEPLY}]
                    if _deeper_than(document, MAX_DEPTH)
                    else _violations(self._validators[model], document)
                )
            except RecursionError:
                errors = [{"path": "", "message": NESTED_TOO_DEEPLY}]
            errors = errors or [
                {
                    "path": "",
                    "message": _short(exc.message),
                }  # the validators disagree: say what we know
            ]
        return None, BodyProblem(400, "Invalid request body", tuple(errors))


_EMPTY = object()
MAX_DEPTH = 32
NESTED_TOO_DEEPLY = (
    f"the body's arrays and objects are nested too deeply (more than {MAX_DEPTH} "
    "levels) to be checked against the model"
)


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (iterative: no recursion to exhaust)."""
    stack = [(document, 1)] if isinstance(document, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


MAX_MESSAGE = 200


def _leaves(error):
    """For `oneOf`/`anyOf`, the errors of the branch the body came closest to (fewest errors)."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(
            branches.values(),
            key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs)),
        )
        for sub in closest:
            yield from _leaves(sub)
    else:
        yield error


def _short(text: str) -> str:
    # jsonschema quotes the failing instance, which may be the whole 500-event batch
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _violations(validator: Draft4Validator, document: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for error in (leaf for top in validator.iter_errors(document) for leaf in _leaves(top)):
        base = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    found.append(
                        {
                            "path": _pointer(base + [name]),
                            "message": f"required property {name!r} is missing",
                        }
                    )
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = set(error.schema.get("properties", {}))
            patterns = error.schema.get("patternProperties", {})
            for name in error.instance:
                if name not in declared and not any(re.search(p, name) for p in patterns):
                    found.append(
                        {
                            "path": _pointer(base + [name]),
                            "message": f"property {name!r} is not allowed",
                        }
                    )
        else:
            found.append({"path": _pointer(base), "message": _short(error.message)})
    found.sort(key=lambda e: e["path"])
    return found[:MAX_ERRORS]
