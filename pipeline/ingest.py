"""Ingest: validate a request's sale events and put them on the Kinesis stream.

Domain code: the Kinesis client is passed in (anything with boto3's `put_records` signature), so
this module never imports boto3 and unit tests can inject a fake.

Contract (docs/events.md, "POST /events"):
  - all or nothing at validation: one invalid event rejects the whole batch (400, every bad event
    listed by index), and nothing is written; so does one event id used twice in the batch with
    different content (an exact repeat is accepted, as a client retry would send it);
  - an event id already accepted with other content (`pipeline.claims`) refuses the whole batch
    (409), and nothing is written;
  - PutRecords in chunks of <= 500 records / 5 MiB, partition key = invoice_no (an invoice's lines
    stay in order on one shard);
  - a partial failure is retried for the failed records only, with exponential backoff and full
    jitter, a bounded number of times and never past the invocation's deadline;
  - records still failing are reported per event (error code and message) and the status is 503
    with Retry-After, so no client can mistake a partial write for success.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backoff import Backoff
from .events import EVENT_FIELDS, InvalidEvent, SaleEvent, events_of_body, parse_event

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
"""PutRecords limits: 500 records and 5 MiB including partition keys."""
MAX_ATTEMPTS = 5
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0
RETRY_AFTER_S = 1
# Errors that retrying cannot fix: a wrong stream name or missing permission is a deployment bug.
NOT_RETRYABLE = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ValidationException",
    "InvalidArgumentException",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSNotFoundException",
    "UnrecognizedClientException",
}


class BatchRejected(ValueError):
    """The request body is not an acceptable batch; nothing is written."""

    def __init__(self, message: str, rejected: list[dict[str, Any]]):
        self.rejected = rejected
        super().__init__(message)


class StreamUnavailable(RuntimeError):
    """PutRecords failed in a way retrying cannot fix (missing stream, denied access)."""


def parse_batch(body: str | bytes | None) -> list[SaleEvent]:
    """Parse and validate a request body; raise BatchRejected listing every invalid event."""
    if body is None or body == "" or body == b"":
        raise BatchRejected('request body is empty; send an event or {"events": [...]}', [])
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BatchRejected(f"request body is not valid JSON: {exc}", []) from None
    except RecursionError:  # json recurses once per nesting level: refuse, never crash
        raise BatchRejected(
            "request body is nested too deeply to be a batch of events", []
        ) from None
    try:
        items = events_of_body(payload)
    except InvalidEvent as exc:
        raise BatchRejected(f"batch rejected: {exc}", []) from None
    events: list[SaleEvent] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item))
        except InvalidEvent as exc:
            ident = item.get("event_id") if isinstance(item, dict) else None
            rejected.append({"index": index, "event_id": ident, "problems": exc.problems})
    if not rejected:
        rejected = conflicting_repeats(events)
    if rejected:
        raise BatchRejected(
            f"batch rejected: {len(rejected)} of {len(items)} events are invalid; nothing was written",
            rejected,
        )
    return events


def conflicting_repeats(events: list[SaleEvent]) -> list[dict[str, Any]]:
    """Events whose id appeared earlier in the batch with other content, naming both indexes.

    An exact repeat is accepted: it is what an idempotent client retry looks like, and every sink
    keeps an event id once."""
    first: dict[str, int] = {}
    rejected = []
    for index, event in enumerate(events):
        earlier = first.setdefault(event.event_id, index)
        if earlier != index and events[earlier] != event:
            other = events[earlier]
            fields = [f for f in EVENT_FIELDS if getattr(other, f) != getattr(event, f)]
            rejected.append(
                {
                    "index": index,
                    "event_id": event.event_id,
                    "problems": [
                        f"event_id: events {earlier} and {index} share this id with different "
                        f"content ({', '.join(fields)}); an event id names one immutable event"
                    ],
                }
            )
    return rejected


@dataclass(frozen=True)
class _Entry:
    index: int
    event: SaleEvent
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data) + len(self.event.invoice_no.encode())


def chunks(entries: list[_Entry]) -> list[list[_Entry]]:
    """Split into PutRecords calls of at most 500 records and 5 MiB, keeping order."""
    calls: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for entry in entries:
        if current and (
            len(current) >= MAX_RECORDS_PER_CALL or size + entry.size > MAX_BYTES_PER_CALL
        ):
            calls.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        calls.append(current)
    return calls


@dataclass
class IngestResult:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    """PutRecords calls made, retries included."""

    @property
    def status(self) -> int:
        return 503 if self.failed else 200

    def body(self) -> dict[str, Any]:
        accepted = sorted(self.accepted, key=lambda a: a["index"])
        failed = sorted(self.failed, key=lambda f: f["index"])
        body: dict[str, Any] = {
            "accepted_count": len(accepted),
            "failed_count": len(failed),
            "accepted": accepted,
            "failed": failed,
        }
        if failed:
            body["message"] = (
                f"{len(failed)} of {len(accepted) + len(failed)} events could not be written to "
                f"the stream after {MAX_ATTEMPTS} attempts; resend the events listed under 'failed'"
            )
        return body


Sleep = Callable[[float], None]


def put_events(
    kinesis: Any,
    stream_name: str,
    events: list[SaleEvent],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: float = BASE_DELAY_S,
    max_delay: float = MAX_DELAY_S,
    deadline: float | None = None,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> IngestResult:
    """Write `events` to the stream; retry only failed records; report every event's outcome.

    `deadline` (a `clock()` value) stops retrying early so a Lambda answers before its timeout.
    """
    result = IngestResult()
    pending = [_Entry(i, e, e.to_record_bytes()) for i, e in enumerate(events)]
    for attempt in range(1, max_attempts + 1):
        errors: dict[int, tuple[str, str]] = {}
        for call in chunks(pending):
            result.attempts += 1
            _put_chunk(kinesis, stream_name, call, result, errors)
        pending = [e for e in pending if e.index in errors]
        if not pending:
            break
        delay = Backoff(base_delay, max_delay).delay(attempt - 1, rand)
        if attempt == max_attempts or (deadline is not None and clock() + delay >= deadline):
            break
        sleep(delay)
    for entry in pending:
        code, message = errors[entry.index]
        result.failed.append(
            {
                "index": entry.index,
                "event_id": entry.event.event_id,
                "error_code": code,
                "error_message": message,
            }
        )
    return result


def _put_chunk(
    kinesis: Any,
    stream_name: str,
    call: list[_Entry],
    result: IngestResult,
    errors: dict[int, tuple[str, str]],
) -> None:
    records = [{"Data": e.data, "PartitionKey": e.event.invoice_no} for e in call]
    try:
        response = kinesis.put_records(StreamName=stream_name, Records=records)
    except Exception as exc:  # botocore errors are not importable here
        code = error_code(exc)
        if code in NOT_RETRYABLE:
            raise StreamUnavailable(
                f"PutRecords to stream {stream_name!r} failed: {code}: {exc}"
            ) from exc
        for entry in call:
            errors[entry.index] = (code, str(exc))
        return
    outcomes = response.get("Records", [])
    if len(outcomes) != len(call):
        raise StreamUnavailable(
            f"PutRecords answered {len(outcomes)} results for {len(call)} records on {stream_name!r}"
        )
    for entry, outcome in zip(call, outcomes):
        if outcome.get("ErrorCode"):
            errors[entry.index] = (outcome["ErrorCode"], outcome.get("ErrorMessage", ""))
        else:
            result.accepted.append(
                {
                    "index": entry.index,
                    "event_id": entry.event.event_id,
                    "sequence_number": outcome["SequenceNumber"],
                    "shard_id": outcome["ShardId"],
                }
            )


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError (else the exception's class name)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__
