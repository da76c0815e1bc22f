"""POST /events (API Gateway REST proxy integration): validate, then put on the stream.

Thin: parse the proxy event, call `pipeline.ingest`, answer. The Kinesis client is created once per
execution environment (warm invocations reuse it) and can be replaced with `use_kinesis_client`.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from aws_lambda_powertools import Logger

from pipeline.handlers import clients
from pipeline.ingest import BatchRejected, StreamUnavailable, parse_batch, put_events

logger = Logger(service="sales-ingest")
# Leave this much of the invocation's time to answer after the last retry.
_ANSWER_MARGIN_S = 2.0


def use_kinesis_client(client: Any) -> None:
    """Inject the kinesis client (tests, or callers with their own session)."""
    clients.use("kinesis", client)


def _kinesis_client() -> Any:
    return clients.client("kinesis")


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
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
    stream_name = os.environ.get("STREAM_NAME")
    if not stream_name:
        logger.error("STREAM_NAME is not set")
        return _response(500, {"message": "ingest is misconfigured: STREAM_NAME is not set"})
    try:
        events = parse_batch(_body(event))
    except BatchRejected as exc:
        logger.info("batch rejected", extra={"rejected": len(exc.rejected), "reason": str(exc)})
        return _response(400, {"message": str(exc), "accepted_count": 0, "rejected": exc.rejected})
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
        extra={"events": len(events), "accepted": len(result.accepted), "failed": len(result.failed),
               "put_records_calls": result.attempts},
    )
    headers = {"Retry-After": "1"} if result.failed else None
    return _response(result.status, result.body(), headers)
