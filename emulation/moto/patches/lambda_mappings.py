"""Lambda ListEventSourceMappings / GetEventSourceMapping in moto 5.2.1: list the mappings that run.

What moto does wrong: the local cloud's Kinesis mappings are run by the runtime
(`emulation.awslambda.mappings`), not created in moto, so `aws lambda
list-event-source-mappings` answered `[]` while two mappings were delivering records, and
`get-event-source-mapping --uuid ...` answered 404 for them.

The fix, applied inside the moto server process by `apply(runtime_url)`: both calls ask the
runtime (`GET /2015-03-31/event-source-mappings/`) for the mappings of the description (UUID, state,
batch size and window, starting position, function and event-source ARNs, on-failure destination,
bisect, retries, record age, function response types, last processing result), filtered by
`--function-name` (name or ARN) and `--event-source-arn` as AWS does; mappings created by hand in
moto are listed after them. Update and delete of a runtime mapping are refused with an
InvalidParameterValueException naming the resource description as the place to change it.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .runtime_link import RuntimeUnavailable, call

log = logging.getLogger("localcloud.moto")
_original: dict[str, Any] = {}
PATH = "/2015-03-31/event-source-mappings/"


def _runtime_mappings(runtime_url: str | None) -> list[dict[str, Any]] | None:
    """The runtime's mappings, or None when it is not answering (its mappings then run nowhere)."""
    try:
        status, _, body = call(runtime_url, "GET", PATH, timeout=5.0)
    except RuntimeUnavailable as exc:
        log.warning("listing event-source mappings without the runtime's: %s", exc)
        return None
    if status != 200:  # a runtime without its `mappings` service
        return []
    return json.loads(body)["EventSourceMappings"]


def _function_matches(config: dict[str, Any], wanted: str | None) -> bool:
    if not wanted:
        return True
    arn = config["FunctionArn"]
    return wanted in (arn, arn.rsplit(":", 1)[-1]) or arn.startswith(wanted + ":")


def _patched(runtime_url: str | None):
    def list_event_source_mappings(self) -> str:
        source = self.querystring.get("EventSourceArn", [None])[0]
        function = self.querystring.get("FunctionName", [None])[0]
        found = [
            c
            for c in _runtime_mappings(runtime_url) or []
            if (not source or c["EventSourceArn"] == source) and _function_matches(c, function)
        ]
        own = json.loads(_original["list"](self))["EventSourceMappings"]
        known = {c["UUID"] for c in found}
        return json.dumps(
            {"EventSourceMappings": found + [c for c in own if c["UUID"] not in known]}
        )

    def get_event_source_mapping(self) -> Any:
        uuid = self.path.split("?", 1)[0].rstrip("/").split("/")[-1]
        for config in _runtime_mappings(runtime_url) or []:
            if config["UUID"] == uuid:
                return 200, {}, json.dumps(config)
        return _original["get"](self)

    def refuse_if_described(original_name: str):
        def method(self) -> Any:
            uuid = self.path.split("?", 1)[0].rstrip("/").split("/")[-1]
            if any(c["UUID"] == uuid for c in _runtime_mappings(runtime_url) or []):
                message = (
                    f"event-source mapping {uuid} comes from the local cloud's resource "
                    "description: change it in pipeline/resources.py and restart the runtime"
                )
                return (
                    400,
                    {"status": 400, "x-amzn-errortype": "InvalidParameterValueException"},
                    json.dumps({"Type": "User", "Message": message}),
                )
            return _original[original_name](self)

        return method

    return (
        list_event_source_mappings,
        get_event_source_mapping,
        refuse_if_described("update"),
        refuse_if_described("delete"),
    )


def apply(runtime_url: str | None) -> None:
    """Patch moto's Lambda responses in this process (idempotent)."""
    from moto.awslambda.responses import LambdaResponse

    if not _original:
        _original.update(
            list=LambdaResponse.list_event_source_mappings,
            get=LambdaResponse.get_event_source_mapping,
            update=LambdaResponse.update_event_source_mapping,
            delete=LambdaResponse.delete_event_source_mapping,
        )
    (
        LambdaResponse.list_event_source_mappings,
        LambdaResponse.get_event_source_mapping,
        LambdaResponse.update_event_source_mapping,
        LambdaResponse.delete_event_source_mapping,
    ) = _patched(runtime_url)


def revert() -> None:
    from moto.awslambda.responses import LambdaResponse

    if _original:
        LambdaResponse.list_event_source_mappings = _original.pop("list")
        LambdaResponse.get_event_source_mapping = _original.pop("get")
        LambdaResponse.update_event_source_mapping = _original.pop("update")
        LambdaResponse.delete_event_source_mapping = _original.pop("delete")
