"""The stream path under faults, on a real local cloud: in every case each sink still holds every
event exactly once (no loss, no double counting).

The cloud runs the real description except for Firehose's buffer interval (2 s instead of 60 s,
`stream_support.FAST_FIREHOSE`), so each case can wait for the warehouse without a minute's pause.
Each case replays its own slice of the sample as its own file (its own event-id prefix), so the
cases share one cloud without seeing each other's events.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.aws_examples import AWS_ON_FAILURE_EXAMPLE

from .stream_support import (
    FAST_FIREHOSE_SPEC,
    STREAM,
    StreamWatch,
    assert_every_sink_exact,
    derived_source,
    events_of,
    mapping_stats,
    post_events,
    record_data,
    replay_events,
    source_lines,
    sqs_messages,
    wait_until,
)

pytestmark = pytest.mark.embedded_only(
    reason=(
        "a private cloud with a 2 s Firehose buffer; kills consumer workers through /faults and "
        "adds a throttled usage plan of its own"
    )
)

QUEUES = ("sales-projector-failures", "sales-archiver-failures")
CONSUMERS = ("sales-projector", "sales-archiver")




def shape(doc: Any) -> Any:
    """The nested keys and value types of a JSON document."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    return type(doc).__name__


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    cloud = cloud_factory(resources=FAST_FIREHOSE_SPEC)
    for queue in QUEUES:  # start each case from empty on-failure queues
        sqs_messages(cloud, queue, wait_s=0)
    return cloud


def test_killed_consumer_workers_lose_and_double_nothing(cloud, tmp_path):
    path = derived_source(tmp_path, "kill", slice(0, 2500))
    expected = source_lines(path)
    before = mapping_stats(cloud)
    batches = []

    def kill_while_replaying(batch):
        batches.append(batch)
        if len(batches) == 2:  # records of batch 1 are on the stream: the next invocation dies
            for function in CONSUMERS:
                reply = httpx.post(
                    f"{cloud.runtime_url}/faults",
                    json={"function": function, "kill_next": True},
                    timeout=10,
                )
                assert reply.status_code == 200, reply.text

    summary = replay_events(cloud, events_of(path), on_batch=kill_while_replaying, concurrency=2)
    assert summary.accepted == summary.sent == len(expected) == 2500
    assert_every_sink_exact(cloud, expected)

    after = mapping_stats(cloud)
    for function in CONSUMERS:  # the kill did happen, and nothing was given up on
        assert after[function]["function_errors"] >= before[function]["function_errors"] + 1, (
            function
        )
        assert after[function]["records_discarded"] == before[function]["records_discarded"], (
            function
        )
    assert httpx.get(f"{cloud.runtime_url}/faults", timeout=10).json() == {}  # both kills consumed
    for queue in QUEUES:
        assert sqs_messages(cloud, queue, wait_s=0) == [], queue


def test_poison_record_goes_to_both_failure_queues_and_the_shards_keep_moving(cloud, tmp_path):
    path = derived_source(tmp_path, "poison", slice(2500, 3000))
    expected = source_lines(path)
    kinesis = cloud.client("kinesis")
    poison = kinesis.put_record(
        StreamName=STREAM, Data=b"\xff\xfe this is not JSON", PartitionKey="poison"
    )
    summary = replay_events(cloud, events_of(path), batch_size=50)  # later records, on both shards
    assert summary.accepted == len(expected) == 500

    messages = {}
    for queue in QUEUES:
        messages[queue] = wait_until(
            lambda q=queue: sqs_messages(cloud, q),
            timeout=60,
            what=f"an on-failure message in {queue}",
        )
    assert_every_sink_exact(cloud, expected)  # the records after the poison arrived, once each

    stream_arn = cloud.names.stream_arn(STREAM)
    for queue, function in zip(QUEUES, CONSUMERS, strict=True):
        assert len(messages[queue]) == 1, messages[queue]
        record = messages[queue][0]
        expected_shape = shape(AWS_ON_FAILURE_EXAMPLE)
        expected_shape["responseContext"].pop("functionError")  # a reported item, not a crash
        assert shape(record) == expected_shape
        info, context = record["KinesisBatchInfo"], record["requestContext"]
        assert context["functionArn"] == cloud.names.function_arn(function)
        assert context["condition"] == "RetryAttemptsExhausted"
        assert context["approximateInvokeCount"] == 6  # first attempt + MaximumRetryAttempts 5
        assert info["shardId"] == poison["ShardId"] and info["streamArn"] == stream_arn
        assert int(info["startSequenceNumber"]) == int(poison["SequenceNumber"])  # starts at it
        assert int(info["endSequenceNumber"]) >= int(poison["SequenceNumber"])
        assert (
            info["batchSize"]
            == int(info["endSequenceNumber"]) - int(info["startSequenceNumber"]) + 1
        )

    # The warehouse reported the bad record (as STL_LOAD_ERRORS) and loaded the rest.
    with psycopg.connect(cloud.warehouse_dsn, connect_timeout=10) as conn:
        errors = conn.execute(
            "SELECT err_code, err_reason FROM localcloud.stl_load_errors WHERE raw_line LIKE %s",
            ("%this is not JSON%",),
        ).fetchall()
    assert len(errors) == 1 and errors[0][0] == 1220, (
        errors
    )  # Redshift: invalid UTF-8 is error 1220


def test_client_resending_after_a_lost_response_is_counted_once(cloud, tmp_path):
    path = derived_source(tmp_path, "resend", slice(3000, 3500))
    expected = source_lines(path)
    events = events_of(path)
    watch = StreamWatch(cloud)
    dropper = LoseFirstResponse(batches_to_drop=2)
    summary = replay_events(
        cloud, events[:400], batch_size=100, concurrency=1, transport=dropper, timeout_s=10
    )
    assert summary.accepted == summary.sent == 400 and summary.failed == 0
    assert summary.retried == 2  # one re-send per lost response
    resent = {e.event_id for e in events[:200]}  # batches 1 and 2 were written twice

    # And the last batch sent twice on purpose, as a client without the first answer would.
    body = httpx.Request("POST", "/", json={"events": [e.wire() for e in events[400:500]]}).read()
    for _ in range(2):
        assert post_events(cloud, body).status_code == 200
    resent |= {e.event_id for e in events[400:500]}

    prefix = events[0].event_id.split(":")[0]
    on_stream = Counter(
        eid for eid in map(_event_id, watch.new_records()) if eid.startswith(prefix)
    )
    assert on_stream == Counter(
        {eid: 2 if eid in resent else 1 for eid in expected}
    )  # duplicates made
    counts = assert_every_sink_exact(cloud, expected, resent=frozenset(resent))
    assert counts == {"archive_lines": 800, "warehouse_rows": 800}  # the logs keep both copies


def test_throttled_client_retries_and_delivers_everything_once(cloud, tmp_path):
    path = derived_source(tmp_path, "throttle", slice(3500, None))
    expected = source_lines(path)
    key = tiny_usage_plan_key(cloud, rate=5.0, burst=1)

    # The plan throttles: simultaneous requests (bodies the gateway refuses, so nothing is written
    # when one is admitted) meet 429s.
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda _: post_events(cloud, b"{}", api_key=key).status_code, range(8))
        )
    assert 429 in statuses and set(statuses) <= {400, 429}, statuses

    summary = replay_events(cloud, events_of(path), api_key=key, batch_size=50, concurrency=4)
    print(f"throttled replay: {summary.render()}")
    assert summary.accepted == summary.sent == len(expected) == 433 and summary.failed == 0
    assert summary.retried > 0  # 429s happened and were retried
    assert summary.requests == 9 + summary.retried
    counts = assert_every_sink_exact(cloud, expected)
    assert counts == {"archive_lines": 433, "warehouse_rows": 433}


# ------------------------------------------------------------------------------- helpers
class LoseFirstResponse(httpx.BaseTransport):
    """Real HTTP, but the answer to the first request of the first N distinct bodies is thrown
    away and a read timeout raised instead: the server wrote the batch, the client never knew."""

    def __init__(self, batches_to_drop: int):
        self.inner = httpx.HTTPTransport()
        self.left = batches_to_drop
        self.seen: set[bytes] = set()
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = request.read()
        with self.lock:
            drop = self.left > 0 and body not in self.seen
            self.seen.add(body)
            self.left -= drop
        if not drop:
            return response
        response.read()
        response.close()
        assert response.status_code == 200  # it was written
        raise httpx.ReadTimeout("test: the response was lost", request=request)

    def close(self) -> None:
        self.inner.close()


def tiny_usage_plan_key(cloud, *, rate: float, burst: int) -> str:
    """A second usage plan on the stage with a tiny throttle and a key of its own, created with
    the API Gateway API as a user would (the gateway picks up keys created later)."""
    apigw = cloud.client("apigateway")
    api = cloud.resources.api
    api_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == api.name)
    plan = apigw.create_usage_plan(
        name=f"tiny-{time.time_ns()}",
        throttle={"rateLimit": rate, "burstLimit": burst},
        apiStages=[{"apiId": api_id, "stage": api.stage}],
    )
    value = f"tiny-plan-key-{time.time_ns()}"
    key = apigw.create_api_key(name=value, enabled=True, value=value)
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return value


def _event_id(record) -> str:
    try:
        return json.loads(record_data(record))["event_id"]
    except (ValueError, KeyError):
        return ""
