"""The documents Lambda builds from Kinesis records: the invocation event and the on-failure record.

Event (AWS Lambda developer guide, "Using Lambda with Kinesis", example event): `{"Records": [...]}`
where each record is
`{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey", "sequenceNumber", "data" (base64),
"approximateArrivalTimestamp" (epoch seconds, ms precision)}, "eventSource": "aws:kinesis",
"eventVersion": "1.0", "eventID": "<shardId>:<sequenceNumber>", "eventName": "aws:kinesis:record",
"invokeIdentityArn" (the function's execution role), "awsRegion", "eventSourceARN"}`.

Each record is rendered to JSON once, when it is read from the stream, so a batch's payload size
is known exactly (Lambda caps a batch at the 6 MB invocation payload) and retries or bisected
halves reuse the text.

On-failure record ("Retain discarded batch records for a Kinesis Data Streams event source"):
`requestContext {requestId, functionArn, condition, approximateInvokeCount}`, `responseContext
{statusCode, executedVersion, functionError}`, `version "1.0"`, `timestamp`, `KinesisBatchInfo
{shardId, startSequenceNumber, endSequenceNumber, approximateArrivalOfFirstRecord,
approximateArrivalOfLastRecord, batchSize, streamArn}`.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PAYLOAD_LIMIT = 6 * 1024 * 1024
"""Synchronous invocation payload limit (6 MB), which bounds a batch's event."""
_ENVELOPE = len(b'{"Records":[]}')
_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f-\U0010ffff]*').fullmatch
"""A partition key JSON can hold between quotes as it is (printable ASCII without " or \\)."""


@dataclass(slots=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    arrival: float
    """ApproximateArrivalTimestamp, epoch seconds."""
    rendered: str
    """This record's JSON inside the event."""

    @property
    def size(self) -> int:
        return len(self.rendered) + 1  # the comma separating it from the next record


class EventRenderer:
    """Renders one shard's records for one mapping (the constant parts are computed once)."""

    def __init__(self, shard_id: str, stream_arn: str, region: str, role_arn: str):
        self.shard_id = shard_id
        constant = json.dumps(
            {
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
        )[1:-1].replace("%", "%%")
        self._template = (
            '{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": %s, "sequenceNumber": "%s", '
            '"data": "%s", "approximateArrivalTimestamp": %s}, "eventSource": "aws:kinesis", '
            '"eventVersion": "1.0", "eventID": "'
            + shard_id.replace("%", "%%")
            + ':%s", '
            + constant
            + "}"
        )

    def render(
        self, partition_key: str, sequence_number: str, data_b64: str, arrival: float
    ) -> StreamRecord:
        # Sequence numbers are digits and data is base64: only the partition key may need escaping.
        key = '"' + partition_key + '"' if _PLAIN(partition_key) else json.dumps(partition_key)
        text = self._template % (key, sequence_number, data_b64, round(arrival, 3), sequence_number)
        return StreamRecord(self.shard_id, sequence_number, arrival, text)

    def render_raw(self, raw: dict[str, Any]) -> StreamRecord:
        """A record as boto3's GetRecords returns it (Data bytes, arrival datetime)."""
        arrival = raw["ApproximateArrivalTimestamp"]
        if isinstance(arrival, datetime):
            arrival = arrival.timestamp()
        data = raw["Data"]
        data_b64 = base64.b64encode(data).decode() if isinstance(data, (bytes, bytearray)) else data
        return self.render(raw["PartitionKey"], raw["SequenceNumber"], data_b64, float(arrival))


def event_size(records: Iterable[StreamRecord]) -> int:
    """Exactly `len(build_event(records))` for a non-empty batch."""
    return _ENVELOPE + sum(r.size for r in records) - 1


def build_event(records: list[StreamRecord]) -> bytes:
    return ('{"Records":[' + ",".join(r.rendered for r in records) + "]}").encode()


def iso_millis(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def on_failure_record(
    records: list[StreamRecord],
    *,
    stream_arn: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_id: str,
    function_error: str | None,
    now: float,
) -> dict[str, Any]:
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = function_error
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "KinesisBatchInfo": {
            "shardId": records[0].shard_id,
            "startSequenceNumber": records[0].sequence_number,
            "endSequenceNumber": records[-1].sequence_number,
            "approximateArrivalOfFirstRecord": iso_millis(records[0].arrival),
            "approximateArrivalOfLastRecord": iso_millis(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
