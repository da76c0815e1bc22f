"""Ingest: validation is all-or-nothing, PutRecords chunks, and only failed records are retried."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from pipeline.events import parse_event
from pipeline.handlers import ingest as handler_module
from pipeline.ingest import MAX_BYTES_PER_CALL, _Entry, chunks, put_events
from tests.component.conftest import create_pipeline_tables
from tests.sales import sale_fields

STREAM = "sales-events"
CLAIM_TABLE = "event_claim"


def wire(n: int, **changes) -> dict:
    return sale_fields(n + 2, **{"invoice_no": f"{536365 + n % 7:06d}", **changes})


class FlakyKinesis:
    """Fails the records whose event index is in `fail[attempt]`; records every call."""

    def __init__(self, fail: dict[int, set[int]] | None = None, raise_first: Exception | None = None):
        self.fail = fail or {}
        self.raise_first = raise_first
        self.calls: list[list[dict]] = []

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's signature
        assert StreamName == STREAM
        self.calls.append(Records)
        if self.raise_first is not None:
            exc, self.raise_first = self.raise_first, None
            raise exc
        failing = self.fail.get(len(self.calls), set())
        out = []
        for r in Records:
            index = int(json.loads(r["Data"])["event_id"].split(":")[1]) - 2
            if index in failing:
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                out.append({"SequenceNumber": f"seq-{index}", "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}


def proxy(body, *, b64: bool = False) -> dict:
    text = json.dumps(body) if not isinstance(body, str) else body
    if b64:
        text = base64.b64encode(text.encode()).decode()
    return {"httpMethod": "POST", "path": "/events", "body": text, "isBase64Encoded": b64,
            "requestContext": {"requestId": "r-1"}}


@pytest.fixture
def claims_table(monkeypatch, in_process_aws):
    """The claims table on moto's in-process DynamoDB (real boto3 calls, real conditions)."""
    monkeypatch.setenv("CLAIM_TABLE", CLAIM_TABLE)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_pipeline_tables(client, CLAIM_TABLE)
        handler_module.use_dynamodb_client(client)
        yield client
        handler_module.use_dynamodb_client(None)


@pytest.fixture
def fake(monkeypatch, claims_table):
    monkeypatch.setenv("STREAM_NAME", STREAM)
    client = FlakyKinesis()
    handler_module.use_kinesis_client(client)
    yield client
    handler_module.use_kinesis_client(None)


def test_partial_failure_retries_only_failed_records():
    events = [parse_event(wire(i)) for i in range(10)]
    client = FlakyKinesis(fail={1: {2, 7}, 2: {7}})
    sleeps: list[float] = []
    result = put_events(client, STREAM, events, sleep=sleeps.append, rand=lambda: 1.0)
    assert [len(c) for c in client.calls] == [10, 2, 1]
    assert [json.loads(r["Data"])["event_id"] for r in client.calls[1]] == [wire(2)["event_id"], wire(7)["event_id"]]
    assert result.failed == [] and len(result.accepted) == 10 and result.status == 200
    assert sleeps == [0.05, 0.1]  # exponential backoff (jitter pinned to its maximum)
    assert {a["index"]: a["sequence_number"] for a in result.accepted}[7] == "seq-7"


def test_records_failing_every_attempt_are_reported_not_dropped():
    events = [parse_event(wire(i)) for i in range(3)]
    client = FlakyKinesis(fail={n: {1} for n in range(1, 10)})
    result = put_events(client, STREAM, events, max_attempts=4, sleep=lambda s: None)
    assert len(client.calls) == 4
    assert result.status == 503
    assert result.failed == [{"index": 1, "event_id": wire(1)["event_id"],
                              "error_code": "ProvisionedThroughputExceededException",
                              "error_message": "slow down"}]
    assert [a["index"] for a in result.body()["accepted"]] == [0, 2]


def test_deadline_stops_retrying():
    events = [parse_event(wire(0))]
    client = FlakyKinesis(fail={n: {0} for n in range(1, 10)})
    result = put_events(client, STREAM, events, deadline=0.0, clock=lambda: 0.0, sleep=lambda s: None)
    assert len(client.calls) == 1 and result.failed[0]["index"] == 0


def test_whole_call_error_is_retried_and_configuration_error_is_not():
    class Throttled(Exception):
        response = {"Error": {"Code": "ProvisionedThroughputExceededException"}}

    client = FlakyKinesis(raise_first=Throttled("throttled"))
    result = put_events(client, STREAM, [parse_event(wire(0))], sleep=lambda s: None)
    assert len(client.calls) == 2 and result.status == 200

    class Missing(Exception):
        response = {"Error": {"Code": "ResourceNotFoundException"}}

    from pipeline.ingest import StreamUnavailable

    with pytest.raises(StreamUnavailable, match="sales-events.*ResourceNotFoundException"):
        put_events(FlakyKinesis(raise_first=Missing("no stream")), STREAM, [parse_event(wire(0))])


def test_chunks_respect_count_and_size_limits():
    event = parse_event(wire(0))
    small = [_Entry(i, event, b"x" * 100) for i in range(1201)]
    assert [len(c) for c in chunks(small)] == [500, 500, 201]
    big = [_Entry(i, event, b"x" * (1024 * 1024 - 10)) for i in range(11)]
    sizes = [sum(e.size for e in c) for c in chunks(big)]
    assert all(s <= MAX_BYTES_PER_CALL for s in sizes) and sum(len(c) for c in chunks(big)) == 11
    assert [len(c) for c in chunks(big)] == [5, 5, 1]


def test_handler_accepts_a_batch(fake):
    response = handler_module.handler(proxy({"events": [wire(i) for i in range(3)]}), None)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["accepted_count"] == 3 and body["failed"] == []
    assert body["accepted"][0] == {"index": 0, "event_id": wire(0)["event_id"],
                                   "sequence_number": "seq-0", "shard_id": "shardId-000000000000"}
    assert [r["PartitionKey"] for r in fake.calls[0]] == [wire(i)["invoice_no"] for i in range(3)]


def test_handler_accepts_one_event_base64(fake):
    response = handler_module.handler(proxy(wire(0), b64=True), None)
    assert response["statusCode"] == 200 and json.loads(response["body"])["accepted_count"] == 1


def test_handler_rejects_whole_batch_and_writes_nothing(fake):
    events = [wire(0), wire(1, quantity="6"), wire(2), wire(3, unit_price=2.55, customer_id="x")]
    response = handler_module.handler(proxy({"events": events}), None)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert "2 of 4 events are invalid; nothing was written" in body["message"]
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert body["rejected"][1]["event_id"] == wire(3)["event_id"]
    assert any(p.startswith("unit_price") for p in body["rejected"][1]["problems"])
    assert any(p.startswith("customer_id") for p in body["rejected"][1]["problems"])
    assert fake.calls == []


def test_handler_rejects_501_events(fake):
    response = handler_module.handler(proxy({"events": [wire(i) for i in range(501)]}), None)
    assert response["statusCode"] == 400
    assert "1..500 events, got 501" in json.loads(response["body"])["message"]
    assert fake.calls == []


@pytest.mark.parametrize(("body", "words"), [("{not json", "not valid JSON"), ("", "empty"), ("[1]", "event object")])
def test_handler_rejects_bad_bodies(fake, body, words):
    response = handler_module.handler(proxy(body), None)
    assert response["statusCode"] == 400 and words in json.loads(response["body"])["message"]


def test_handler_answers_503_with_retry_after_when_records_still_fail(fake):
    fake.fail = {n: {1} for n in range(1, 10)}
    response = handler_module.handler(proxy({"events": [wire(0), wire(1)]}), None)
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"
    body = json.loads(response["body"])
    assert body["accepted_count"] == 1 and body["failed"][0]["event_id"] == wire(1)["event_id"]


@pytest.mark.parametrize("variable", ["STREAM_NAME", "CLAIM_TABLE"])
def test_handler_without_its_settings_is_a_clear_500(monkeypatch, variable):
    monkeypatch.setenv("STREAM_NAME", STREAM)
    monkeypatch.setenv("CLAIM_TABLE", CLAIM_TABLE)
    monkeypatch.delenv(variable)
    response = handler_module.handler(proxy(wire(0)), None)
    assert response["statusCode"] == 500 and variable in response["body"]


def test_handler_writes_readable_records_to_kinesis(monkeypatch, claims_table):
    monkeypatch.setenv("STREAM_NAME", STREAM)
    client = boto3.client("kinesis", region_name="us-east-1")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    handler_module.use_kinesis_client(client)
    try:
        response = handler_module.handler(proxy({"events": [wire(i) for i in range(20)]}), None)
    finally:
        handler_module.use_kinesis_client(None)
    assert response["statusCode"] == 200
    accepted = json.loads(response["body"])["accepted"]
    read = []
    for shard in {a["shard_id"] for a in accepted}:
        it = client.get_shard_iterator(StreamName=STREAM, ShardId=shard,
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        read += client.get_records(ShardIterator=it)["Records"]
    assert sorted(json.loads(r["Data"])["event_id"] for r in read) == sorted(wire(i)["event_id"] for i in range(20))
    assert all(r["Data"].endswith(b"\n") for r in read)


# --- one event id, one content ----------------------------------------------------------------


def test_one_id_twice_in_a_batch_with_other_content_is_refused_naming_both_indexes(fake):
    events = [wire(0), wire(1), wire(2), wire(1, quantity=7)]
    response = handler_module.handler(proxy({"events": events}), None)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert "nothing was written" in body["message"]
    (rejected,) = body["rejected"]
    assert rejected["index"] == 3 and rejected["event_id"] == wire(1)["event_id"]
    assert "events 1 and 3" in rejected["problems"][0] and "quantity" in rejected["problems"][0]
    assert fake.calls == []


def test_an_exact_repeat_in_a_batch_is_accepted_as_a_retry_would_be(fake):
    # "2.50" is "2.5": one price, so one content.
    events = [wire(0, unit_price="2.5"), wire(1), wire(0, unit_price="2.50")]
    response = handler_module.handler(proxy({"events": events}), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["accepted_count"] == 3


def test_an_id_accepted_before_with_other_content_is_refused_and_counted(fake, claims_table):
    first = handler_module.handler(proxy({"events": [wire(i) for i in range(3)]}), None)
    assert first["statusCode"] == 200
    written = len(fake.calls)
    # Same id, other content, and another invoice: a version that would land on another shard.
    changed = wire(1, quantity=7, invoice_no="536999")
    response = handler_module.handler(proxy({"events": [wire(5), changed]}), None)
    assert response["statusCode"] == 409
    body = json.loads(response["body"])
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [(1, changed["event_id"])]
    assert "already accepted with different content" in body["rejected"][0]["problems"][0]
    assert len(fake.calls) == written  # nothing of the refused batch reached the stream
    # the resend of the same content is accepted (client retries stay safe); the refused
    # batch's other event was never claimed, so it can be sent in a batch of its own
    again = handler_module.handler(proxy({"events": [wire(1), wire(5)]}), None)
    assert again["statusCode"] == 200
    from pipeline.claims import EventClaims, block_of

    assert EventClaims(claims_table, CLAIM_TABLE).conflicts([block_of(changed["event_id"])[0]]) == 1
