"""What an event-source mapping's on-failure queue holds: one `FailedBatch` per SQS message.

Lambda sends a Kinesis mapping's discarded batch to its on-failure destination as a document
naming the records, not holding them ("Retain discarded batch records for a Kinesis Data Streams
event source", AWS Lambda developer guide): `requestContext {requestId, functionArn, condition,
approximateInvokeCount}`, `responseContext {statusCode, executedVersion, functionError}`,
`timestamp`, `KinesisBatchInfo {shardId, startSequenceNumber, endSequenceNumber,
approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord, batchSize, streamArn}`.

Read by the redrive command (`pipeline.client.redrive`) and shown by the local cloud's console.
Listing receives every message with a short visibility timeout and makes each visible again at
once, so listing never consumes a message (it does raise ApproximateReceiveCount).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

REASONS = {
    "RetryAttemptsExhausted": "the function failed on every retry (MaximumRetryAttempts)",
    "RecordAgeExceeded": "the records grew older than MaximumRecordAgeInSeconds before they succeeded",
}


class BadFailureMessage(ValueError):
    """An SQS message that is not a Kinesis on-failure record."""


@dataclass(frozen=True)
class FailedBatch:
    queue: str
    message_id: str
    receipt_handle: str
    function: str
    function_arn: str
    stream_arn: str
    shard_id: str
    start_sequence: str
    end_sequence: str
    batch_size: int
    condition: str
    function_error: str | None
    invoke_count: int
    failed_at: str
    """ISO timestamp Lambda gave up on the batch."""
    age_s: float
    """Seconds since `failed_at` when listed."""

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[-1]

    @property
    def reason(self) -> str:
        why = REASONS.get(self.condition, self.condition)
        return f"{self.condition}: {why}" + (
            f" ({self.function_error} error)" if self.function_error else ""
        )

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("receipt_handle")
        doc["reason"] = self.reason
        doc["stream"] = self.stream_name
        return doc

    @classmethod
    def from_message(
        cls, queue: str, message: dict[str, Any], now: float | None = None
    ) -> FailedBatch:
        try:
            doc = json.loads(message["Body"])
            info, context = doc["KinesisBatchInfo"], doc["requestContext"]
            failed_at = doc.get("timestamp") or ""
            arn = context["functionArn"]
            return cls(
                queue=queue,
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                function=arn.split(":function:", 1)[-1].split(":", 1)[0],
                function_arn=arn,
                stream_arn=info["streamArn"],
                shard_id=info["shardId"],
                start_sequence=str(info["startSequenceNumber"]),
                end_sequence=str(info["endSequenceNumber"]),
                batch_size=int(info["batchSize"]),
                condition=context.get("condition", "unknown"),
                function_error=(doc.get("responseContext") or {}).get("functionError"),
                invoke_count=int(context.get("approximateInvokeCount") or 0),
                failed_at=failed_at,
                age_s=_age(failed_at, time.time() if now is None else now),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadFailureMessage(
                f"message {message.get('MessageId')} in {queue} is not a Kinesis on-failure record "
                f"({type(exc).__name__}: {exc}): {str(message.get('Body'))[:200]}"
            ) from None


def _age(stamp: str, now: float) -> float:
    try:
        return round(
            max(0.0, now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()), 1
        )
    except ValueError:
        return 0.0


def queue_url(sqs, queue: str) -> str:
    return sqs.get_queue_url(QueueName=queue)["QueueUrl"]


def depth(sqs, url: str) -> dict[str, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def receive_all(
    sqs, url: str, *, hold_s: int, settle_s: float = 5.0, sleep=time.sleep
) -> list[dict[str, Any]]:
    """Every message of the queue, each held invisible for `hold_s` seconds.

    Messages another reader holds (the console peeking) come back within seconds: while the queue
    reports messages in flight beyond the ones received here, wait up to `settle_s` for them."""
    held: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + settle_s
    while True:
        page = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hold_s,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        )
        batch = page.get("Messages", [])
        for message in batch:
            held[message["MessageId"]] = message
        if batch:
            continue
        if depth(sqs, url)["in_flight"] <= len(held) or time.monotonic() > deadline:
            return list(held.values())
        sleep(0.5)


def release(sqs, url: str, messages: list[dict[str, Any]]) -> None:
    """Make held messages visible again at once (ChangeMessageVisibility 0)."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def parse_all(queue: str, messages: list[dict[str, Any]]) -> tuple[list[FailedBatch], list[str]]:
    """(failed batches oldest first, a problem line per message that is not an on-failure record)."""
    batches, problems = [], []
    for message in messages:
        try:
            batches.append(FailedBatch.from_message(queue, message))
        except BadFailureMessage as exc:
            problems.append(str(exc))
    return sorted(batches, key=lambda b: b.failed_at), problems


def peek(sqs, queue: str, url: str | None = None) -> tuple[list[FailedBatch], list[str]]:
    """List a queue's failed batches without consuming them (see `parse_all`)."""
    url = url or queue_url(sqs, queue)
    messages = receive_all(sqs, url, hold_s=5, settle_s=0)
    try:
        return parse_all(queue, messages)
    finally:
        release(sqs, url, messages)
