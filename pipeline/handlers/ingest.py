"""POST /events (API Gateway REST proxy integration): validate, claim the ids, put on the stream.

Thin: parse the proxy event, call `pipeline.ingest` and `pipeline.claims`, answer. The Kinesis and
DynamoDB clients are created once per execution environment (warm invocations reuse them) and can
be replaced with `use_kinesis_client` / `use_dynamodb_client`.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from aws_lambda_powertools import Logger

from pipeline.claims import ClaimsUnavailable, EventClaims
from pipeline.handlers import clients
from pipeline.handlers.settings import IngestSettings, Misconfigured
from pipeline.ingest import (
    NOT_RETRYABLE,
    BatchRejected,
    StreamUnavailable,
    error_code,
    parse_batch,
    put_events,
)

logger = Logger(service="sales-ingest")
# Leave this much of the invocation's time to answer after the last retry.
_ANSWER_MARGIN_S = 2.0


def use_kinesis_client(client: Any) -> None:
    """Inject the kinesis client (tests, or callers with their own session)."""
    clients.use("kinesis", client)


def _kinesis_client() -> Any:
    return clients.client("kinesis")


def use_dynamodb_client(client: Any) -> None:
    """Inject the dynamodb client of the claims table."""
    clients.use("dynamodb", client)


def _response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def _body(event: dict[str, Any]) -> str | bytes | None:
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId")
    logger.append_keys(request_id=request_id)
    try:
        settings = IngestSettings.from_environment()
    except Misconfigured as exc:
        logger.error("misconfigured", extra={"missing": exc.missing})
        return _response(500, {"message": str(exc)})
    stream_name, claim_table = settings.stream_name, settings.claim_table
    try:
        events = parse_batch(_body(event))
    except BatchRejected as exc:
        logger.info("batch rejected", extra={"rejected": len(exc.rejected), "reason": str(exc)})
        return _response(400, {"message": str(exc), "accepted_count": 0, "rejected": exc.rejected})
    try:
        conflicts = EventClaims(clients.client("dynamodb"), claim_table).claim(events)
    except Exception as exc:  # ClaimsUnavailable or a botocore error
        code = error_code(exc)
        if not isinstance(exc, ClaimsUnavailable) and code in NOT_RETRYABLE:
            logger.exception("claims table unusable")
            return _response(
                500,
                {
                    "message": f"claims table {claim_table!r} is unusable: {code}: {exc}",
                    "accepted_count": 0,
                },
            )
        logger.warning("claims unavailable", extra={"reason": str(exc)})
        return _response(
            503,
            {
                "message": f"event ids could not be claimed ({code}); nothing was "
                "written: resend the batch",
                "accepted_count": 0,
            },
            {"Retry-After": "1"},
        )
    if conflicts:
        # Visible: logged here, counted in the claims table (make e2e reports the count).
        logger.warning(
            "conflicting event ids refused",
            extra={"conflicts": len(conflicts), "event_ids": [c.event_id for c in conflicts[:20]]},
        )
        return _response(
            409,
            {
                "message": f"batch rejected: {len(conflicts)} of {len(events)} events reuse an event id "
                "already accepted with different content; nothing was written",
                "accepted_count": 0,
                "rejected": [c.rejection() for c in conflicts],
            },
        )
    deadline = None
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        deadline = time.monotonic() + remaining_ms() / 1000 - _ANSWER_MARGIN_S
    try:
        result = put_events(_kinesis_client(), stream_name, events, deadline=deadline)
    except StreamUnavailable as exc:
        logger.exception("stream unavailable")
        return _response(500, {"message": str(exc), "accepted_count": 0})
    logger.info(
        "batch written",
        extra={
            "events": len(events),
            "accepted": len(result.accepted),
            "failed": len(result.failed),
            "put_records_calls": result.attempts,
        },
    )
    headers = {"Retry-After": "1"} if result.failed else None
    return _response(result.status, result.body(), headers)
