"""Kinesis event rendering, on-failure records and checkpoint files."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulation.awslambda.events import EventRenderer, build_event, event_size, on_failure_record
from emulation.kinesis.checkpoints import CheckpointStore, ShardCheckpoint, StreamIdentity

RENDER = EventRenderer(
    "shardId-000000000006",
    "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
    "us-east-2",
    "arn:aws:iam::123456789012:role/lambda-role",
)

# The example event record of the AWS Lambda developer guide ("Using Lambda with Kinesis").
AWS_SAMPLE = {
    "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "approximateArrivalTimestamp": 1545084650.987,
    },
    "eventSource": "aws:kinesis",
    "eventVersion": "1.0",
    "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
    "eventName": "aws:kinesis:record",
    "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
    "awsRegion": "us-east-2",
    "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
}


def test_rendered_record_equals_the_aws_sample():
    record = RENDER.render(
        "1",
        "49590338271490256608559692538361571095921575989136588898",
        "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        1545084650.98712,
    )
    assert json.loads(record.rendered) == AWS_SAMPLE


def test_boto3_shaped_records_render_the_same():
    from datetime import datetime

    raw = {
        "PartitionKey": "1",
        "SequenceNumber": "7",
        "Data": b"Hello, this is a test.",
        "ApproximateArrivalTimestamp": datetime.fromtimestamp(1545084650.987, UTC),
    }
    doc = json.loads(RENDER.render_raw(raw).rendered)
    assert doc["kinesis"]["data"] == AWS_SAMPLE["kinesis"]["data"]
    assert doc["kinesis"]["approximateArrivalTimestamp"] == 1545084650.987


def test_partition_keys_are_json_escaped_and_sizes_are_exact():
    records = [RENDER.render('quote " and é', "1", "", 1.0), RENDER.render("\\", "2", "eA==", 2.0)]
    event = build_event(records)
    assert json.loads(event)["Records"][0]["kinesis"]["partitionKey"] == 'quote " and é'
    assert len(event) == event_size(records)


def test_on_failure_record_has_aws_fields():
    records = [
        RENDER.render("1", "10", "", 1573691884.835),
        RENDER.render("1", "12", "", 1573691885.58),
    ]
    doc = on_failure_record(
        records,
        stream_arn="arn:s",
        function_arn="arn:f",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        request_id="r-1",
        function_error="Unhandled",
        now=1573691886.021,
    )
    assert doc == {
        "requestContext": {
            "requestId": "r-1",
            "functionArn": "arn:f",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000006",
            "startSequenceNumber": "10",
            "endSequenceNumber": "12",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 2,
            "streamArn": "arn:s",
        },
    }


def test_checkpoints_round_trip_and_know_their_stream(tmp_path):
    store = CheckpointStore(tmp_path, "s--f")
    identity = StreamIdentity("arn:s", 100.0)
    assert store.load("shardId-0") is None
    store.save("shardId-0", ShardCheckpoint("arn:s", 100.0, "42"))
    loaded = CheckpointStore(tmp_path, "s--f").load("shardId-0")  # a new process reads it back
    assert loaded.sequence_number == "42" and loaded.belongs_to(identity)
    assert not loaded.belongs_to(StreamIdentity("arn:s", 200.0))  # the stream was recreated
    assert [p.name for p in store.dir.iterdir()] == ["shardId-0.json"]  # no temporary file left
    store.forget("shardId-0")
    assert store.load("shardId-0") is None


def test_a_corrupt_checkpoint_names_the_file_and_the_fix(tmp_path):
    store = CheckpointStore(tmp_path, "s--f")
    (store.dir / "shardId-0.json").write_text("{torn")
    with pytest.raises(ValueError, match="shardId-0.json is not valid JSON.*delete it"):
        store.load("shardId-0")


@given(st.text(max_size=40), st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_any_partition_key_and_arrival_render_to_valid_json(key, arrival):
    doc = json.loads(RENDER.render(key, "123", "eA==", arrival).rendered)
    assert doc["kinesis"]["partitionKey"] == key
    assert doc["kinesis"]["approximateArrivalTimestamp"] == round(arrival, 3)
    assert doc["eventID"] == "shardId-000000000006:123"
