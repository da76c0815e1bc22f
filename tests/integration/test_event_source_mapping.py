"""Kinesis event-source mappings end to end: records put into the (patched) moto server over HTTP,
read by the runtime's pollers, delivered to real Lambda worker processes whose recorder handler
stores every batch it receives in DynamoDB, which the tests read back."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.aws_examples import AWS_ON_FAILURE_EXAMPLE

from .lambda_support import lambda_cloud  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.embedded_only(
    reason=(
        "a private cloud with its own recorder functions; kills workers through /faults and kills "
        "and restarts the runtime process"
    )
)

# The example event of the AWS Lambda developer guide ("Using Lambda with Kinesis").
AWS_SAMPLE_RECORD = {
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


def _shape(doc):
    """The nested key structure and value types of a JSON document."""
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    return type(doc).__name__


def _delivered(batches) -> list[str]:
    return [d for b in batches for d in b["data"]]


def test_event_has_the_shape_aws_sends(lambda_cloud):  # noqa: F811
    before = time.time()
    put = lambda_cloud.put("t-shape", ["Hello, this is a test.", "second"])
    lambda_cloud.wait_caught_up("rec-shape")
    (batch,) = lambda_cloud.batches("rec-shape")
    event = json.loads(batch["raw"])
    assert list(event) == ["Records"] and len(event["Records"]) == 2
    first = event["Records"][0]
    assert _shape(first) == _shape(AWS_SAMPLE_RECORD)  # key for key, type for type
    shard, seq = put[0]
    assert first["kinesis"]["data"] == base64.b64encode(b"Hello, this is a test.").decode()
    assert first["kinesis"]["sequenceNumber"] == seq and first["kinesis"]["partitionKey"] == "0"
    assert first["eventID"] == f"{shard}:{seq}"
    assert first["eventSourceARN"] == lambda_cloud.names.stream_arn("t-shape")
    assert first["invokeIdentityArn"] == lambda_cloud.names.role_arn("rec-shape")
    assert first["awsRegion"] == lambda_cloud.config.region
    assert before - 1 <= first["kinesis"]["approximateArrivalTimestamp"] <= time.time()


def test_batch_size_is_honoured_and_records_arrive_in_order(lambda_cloud):  # noqa: F811
    datas = [f"b-{i}" for i in range(45)]
    lambda_cloud.put("t-batching", datas)
    lambda_cloud.wait_caught_up("rec-batching")
    batches = lambda_cloud.batches("rec-batching")
    assert _delivered(batches) == datas  # all of them, once, in order
    sizes = [b["count"] for b in batches]
    assert max(sizes) == 10 and len(batches) >= 5  # never more than BatchSize, and batches fill up


def test_batching_window_gathers_records_until_it_expires(lambda_cloud):  # noqa: F811
    first = lambda_cloud.put("t-window", ["w-0"])
    time.sleep(0.6)
    lambda_cloud.put("t-window", ["w-1"])
    time.sleep(0.6)
    lambda_cloud.put("t-window", ["w-2"])
    lambda_cloud.wait_caught_up("rec-window", timeout=30)
    (batch,) = lambda_cloud.batches("rec-window")  # one invocation for records 1.2 s apart
    assert batch["data"] == ["w-0", "w-1", "w-2"]
    arrivals = lambda_cloud.client("kinesis").get_records(
        ShardIterator=lambda_cloud.client("kinesis").get_shard_iterator(
            StreamName="t-window", ShardId=first[0][0], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    )["Records"]
    waited = float(batch["at"]) - arrivals[0]["ApproximateArrivalTimestamp"].timestamp()
    # The window ran from the first record; the upper bound only guards against a lost timer
    # (a loaded CI box delays the invocation itself, so it is not a latency assertion).
    assert 1.9 <= waited < 30


def test_order_is_kept_within_each_shard(lambda_cloud):  # noqa: F811
    datas = [f"o-{i}" for i in range(120)]
    put = lambda_cloud.put("t-ordering", datas, partition_key=lambda i, d: f"key-{i % 9}")
    lambda_cloud.wait_caught_up("rec-ordering")
    expected = defaultdict(list)
    for data, (shard, seq) in zip(datas, put):
        expected[shard].append(seq)
    assert len(expected) == 2  # the records really spread over both shards
    got = defaultdict(list)
    for b in lambda_cloud.batches("rec-ordering"):
        assert b["count"] <= 7
        assert {s.split(":")[0] for s in [b["shard"]]} <= set(expected)
        got[b["shard"]] += b["seqs"]
    assert dict(got) == dict(expected)


def test_partial_batch_failure_resumes_from_the_lowest_failed_record(lambda_cloud):  # noqa: F811
    datas = [f"p-{i}" for i in range(10)]
    datas[4] = "FAIL-ONCE-4"
    datas[7] = "FAIL-ONCE-7"
    lambda_cloud.put("t-partial", datas)
    lambda_cloud.wait_caught_up("rec-partial")
    batches = lambda_cloud.batches("rec-partial")
    failing = next(i for i, b in enumerate(batches) if "FAIL-ONCE-4" in b["data"])
    retry = batches[failing + 1]
    assert retry["data"][0] == "FAIL-ONCE-4"  # resumed at the lowest failed sequence number
    counts = Counter(_delivered(batches))
    assert all(counts[d] == 1 for d in datas[:4])  # records before it were checkpointed
    assert counts["FAIL-ONCE-4"] == 2 and all(counts[d] >= 1 for d in datas)
    assert lambda_cloud.mapping("rec-partial")["records_discarded"] == 0

    # A malformed response (empty itemIdentifier) fails the whole batch: it is retried as a whole.
    more = ["m-0", "MALFORMED-ONCE", "m-2"]
    lambda_cloud.put("t-partial", more)
    lambda_cloud.wait_caught_up("rec-partial")
    later = lambda_cloud.batches("rec-partial")[len(batches) :]
    counts = Counter(_delivered(later))
    assert counts["MALFORMED-ONCE"] == 2 and counts[later[0]["data"][0]] == 2


def test_bisect_isolates_a_poison_record_and_the_destination_gets_aws_shape(lambda_cloud):  # noqa: F811
    datas = [f"q-{i}" for i in range(8)]
    datas[5] = "POISON-5"
    put = lambda_cloud.put("t-poison", datas)
    lambda_cloud.wait_caught_up("rec-poison")
    batches = lambda_cloud.batches("rec-poison")
    clean = [b for b in batches if not any("POISON" in d for d in b["data"])]
    assert sorted(_delivered(clean)) == sorted(d for d in datas if "POISON" not in d)  # each once
    assert [b["data"] for b in batches].count(["POISON-5"]) == 3  # alone, first try + 2 retries

    sqs = lambda_cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="t-poison-failures")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)[
        "Messages"
    ]
    assert len(messages) == 1
    record = json.loads(messages[0]["Body"])
    assert _shape(record) == _shape(AWS_ON_FAILURE_EXAMPLE)
    info = record["KinesisBatchInfo"]
    shard, seq = put[5]
    assert (
        info["shardId"] == shard and info["startSequenceNumber"] == info["endSequenceNumber"] == seq
    )
    assert info["batchSize"] == 1 and info["streamArn"] == lambda_cloud.names.stream_arn("t-poison")
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == lambda_cloud.names.function_arn("rec-poison")
    assert record["responseContext"]["functionError"] == "Unhandled"
    status = lambda_cloud.mapping("rec-poison")
    assert status["records_discarded"] == 1 and status["records_succeeded"] == 7


def test_two_mappings_on_one_stream_each_receive_everything(lambda_cloud):  # noqa: F811
    datas = [f"f-{i}" for i in range(600)]
    lambda_cloud.put("t-fanout", datas, partition_key=lambda i, d: f"k{i % 13}")
    since = time.time()
    a = lambda_cloud.wait_caught_up("rec-fan-a", since)
    b = lambda_cloud.wait_caught_up("rec-fan-b", since)
    got_a = _delivered(lambda_cloud.batches("rec-fan-a"))
    got_b = _delivered(lambda_cloud.batches("rec-fan-b"))
    assert sorted(got_a) == sorted(datas) and sorted(got_b) == sorted(datas)
    assert a["records_succeeded"] == b["records_succeeded"] == 600
    assert max(x["count"] for x in lambda_cloud.batches("rec-fan-b")) <= 33
    assert set(a["shards"]) == set(b["shards"]) and len(a["shards"]) == 2


def test_a_worker_killed_mid_batch_loses_nothing(lambda_cloud):  # noqa: F811
    before = len(lambda_cloud.batches("rec-ordering"))
    lambda_cloud.control("POST", "/faults", {"function": "rec-ordering", "kill_next": True})
    datas = [f"k-{i}" for i in range(20)]
    put = lambda_cloud.put("t-ordering", datas, partition_key=lambda i, d: "same-key")
    lambda_cloud.wait_caught_up("rec-ordering")
    batches = lambda_cloud.batches("rec-ordering")[before:]
    assert _delivered(batches) == datas  # the killed invocation recorded nothing; its retry did
    assert {shard for shard, _ in put} == {batches[0]["shard"]}
    assert lambda_cloud.control("GET", "/faults")[1] == {}  # kill_next is one-shot


def test_mappings_report_positions(lambda_cloud):  # noqa: F811
    put = lambda_cloud.put("t-batching", ["pos-0", "pos-1", "pos-2"])
    lambda_cloud.wait_caught_up("rec-batching")
    status, body = lambda_cloud.control("GET", "/mappings")
    assert status == 200
    by_function = {m["function"]: m for m in body["mappings"]}
    assert set(by_function) == {m.function for m in lambda_cloud.resources.event_source_mappings}
    batching = by_function["rec-batching"]
    shard = batching["shards"]["shardId-000000000000"]
    assert (
        shard["checkpoint"] == put[-1][1]
        and shard["in_flight"] == 0
        and shard["last_error"] is None
    )
    assert batching["state"] == "Enabled" and batching["batch_size"] == 10


def test_restart_resumes_from_the_checkpoint_and_detects_a_recreated_stream(lambda_cloud):  # noqa: F811
    first = [f"r-{i}" for i in range(12)]
    lambda_cloud.put("t-restart", first)
    lambda_cloud.wait_caught_up("rec-restart")
    checkpoint = Path(
        lambda_cloud.config.state_dir,
        "checkpoints",
        "t-restart--rec-restart",
        "shardId-000000000000.json",
    )
    assert json.loads(checkpoint.read_text())["sequence_number"] == "12"

    # The runtime is killed (SIGKILL: no clean shutdown) and records are written while it is down.
    second = [f"r-{i}" for i in range(12, 25)]
    lambda_cloud.restart_runtime(kill=True, between=lambda: lambda_cloud.put("t-restart", second))
    lambda_cloud.wait_caught_up("rec-restart")
    assert (
        _delivered(lambda_cloud.batches("rec-restart")) == first + second
    )  # none skipped, none twice

    # Killed while a batch is in flight: that batch is delivered again, nothing is skipped.
    lambda_cloud.control("POST", "/faults", {"function": "rec-restart", "latency_ms": 5000})
    third = [f"r-{i}" for i in range(25, 35)]
    lambda_cloud.put("t-restart", third)
    deadline = time.monotonic() + 30
    while not lambda_cloud.mapping("rec-restart")["shards"]["shardId-000000000000"]["in_flight"]:
        assert time.monotonic() < deadline, "no batch went in flight"
        time.sleep(0.05)
    lambda_cloud.restart_runtime(kill=True)
    lambda_cloud.wait_caught_up("rec-restart")
    counts = Counter(_delivered(lambda_cloud.batches("rec-restart")))
    assert all(counts[d] == 1 for d in first + second)
    assert all(1 <= counts[d] <= 2 for d in third) and sum(counts[d] - 1 for d in third) <= 5

    # The stream is deleted and created again (what a moto restart amounts to): numbering starts
    # over at 1, so the old checkpoint (35) would skip everything; the mapping must start over.
    def recreate():
        kinesis = lambda_cloud.client("kinesis")
        kinesis.delete_stream(StreamName="t-restart")
        time.sleep(1.1)  # a new creation timestamp (moto keeps second precision)
        kinesis.create_stream(StreamName="t-restart", ShardCount=1)
        lambda_cloud.put("t-restart", ["n-0", "n-1", "n-2"])

    lambda_cloud.restart_runtime(between=recreate)
    lambda_cloud.wait_caught_up("rec-restart")
    assert _delivered(lambda_cloud.batches("rec-restart"))[-3:] == ["n-0", "n-1", "n-2"]
    assert json.loads(checkpoint.read_text())["sequence_number"] == "3"
