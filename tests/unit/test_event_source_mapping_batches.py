"""BatchDelivery: what happens to one batch after each kind of invocation outcome (fake invoker)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import pytest

from emulation.awslambda.events import PAYLOAD_LIMIT, EventRenderer, build_event, event_size
from emulation.awslambda.shard_poller import _take_batch
from emulation.awslambda.stream_batch import BatchDelivery, classify
from pipeline.resource_schema import EventSourceMapping

RENDER = EventRenderer(
    "shardId-000000000000",
    "arn:aws:kinesis:us-east-1:123456789012:stream/s",
    "us-east-1",
    "arn:aws:iam::123456789012:role/f-role",
)


@dataclass
class Result:
    payload: object = None
    error: dict | None = None
    request_id: str = "req"


def records(n, start=1, arrival=1000.0, data="eA=="):
    return [RENDER.render(str(i), str(i), data, arrival + i) for i in range(start, start + n)]


class Harness:
    def __init__(self, respond, clock=lambda: 2000.0, **spec):
        self.spec = EventSourceMapping(function="f", stream="s", **spec)
        self.calls: list[list[str]] = []
        self.checkpoints: list[str] = []
        self.discarded: list[tuple[list[str], str, int]] = []
        self.respond = respond
        self.stop_after = None
        self.delivery = BatchDelivery(
            self.spec,
            self._invoke,
            lambda r: self.checkpoints.append(r.sequence_number),
            self._discard,
            self._wait,
            clock,
        )

    def _invoke(self, payload: bytes):
        seqs = [r["kinesis"]["sequenceNumber"] for r in json.loads(payload)["Records"]]
        self.calls.append(seqs)
        return self.respond(seqs)

    def _discard(self, recs, condition, count, last):
        self.discarded.append(([r.sequence_number for r in recs], condition, count))

    def _wait(self, seconds):
        return self.stop_after is not None and len(self.calls) >= self.stop_after


def fails_on(bad):
    return lambda seqs: Result(error={"errorType": "RuntimeError"}) if bad in seqs else Result()


def test_success_checkpoints_the_last_record():
    h = Harness(lambda seqs: Result())
    assert h.delivery.deliver(records(5))
    assert h.calls == [["1", "2", "3", "4", "5"]] and h.checkpoints == ["5"]
    assert h.delivery.records_succeeded == 5


def test_partial_failure_checkpoints_before_the_lowest_failed_and_retries_from_it():
    seen = set()

    def respond(seqs):
        fresh = [s for s in ("4", "2") if s in seqs and s not in seen]
        seen.update(fresh)
        return Result({"batchItemFailures": [{"itemIdentifier": s} for s in fresh]})

    h = Harness(respond, bisect_batch_on_function_error=False)
    assert h.delivery.deliver(records(5))
    assert h.calls == [["1", "2", "3", "4", "5"], ["2", "3", "4", "5"]]
    assert h.checkpoints == ["1", "5"]


@pytest.mark.parametrize(
    "response",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "a string", {"other": 1}],
)
def test_responses_lambda_treats_as_complete_success(response):
    assert classify(Result(response), records(2), True).kind == "success"


@pytest.mark.parametrize(
    "item",
    [
        {"itemIdentifier": ""},
        {"itemIdentifier": None},
        {"itemId": "1"},
        {"itemIdentifier": "999"},
        "1",
        {"itemIdentifier": 1},
    ],
)
def test_malformed_item_failures_fail_the_whole_batch(item):
    assert classify(Result({"batchItemFailures": [item]}), records(2), True).kind == "failure"


def test_item_failures_are_ignored_unless_reporting_is_enabled():
    result = Result({"batchItemFailures": [{"itemIdentifier": "1"}]})
    assert classify(result, records(2), False).kind == "success"


def test_bisect_isolates_the_poison_record_without_consuming_retries():
    h = Harness(fails_on("6"), maximum_retry_attempts=2)
    assert h.delivery.deliver(records(8))
    assert h.calls == [
        [str(i) for i in range(1, 9)],
        ["1", "2", "3", "4"],
        ["5", "6", "7", "8"],
        ["5", "6"],
        ["5"],
        ["6"],
        ["6"],
        ["6"],
        ["7", "8"],
    ]
    assert h.discarded == [(["6"], "RetryAttemptsExhausted", 3)]
    assert h.checkpoints == ["4", "5", "6", "8"]
    assert h.delivery.records_succeeded == 7 and h.delivery.records_discarded == 1


def test_without_bisect_the_whole_batch_is_retried_then_discarded():
    h = Harness(fails_on("2"), bisect_batch_on_function_error=False, maximum_retry_attempts=1)
    assert h.delivery.deliver(records(3))
    assert h.calls == [["1", "2", "3"]] * 2
    assert h.discarded == [(["1", "2", "3"], "RetryAttemptsExhausted", 2)]
    assert h.checkpoints == ["3"]


def test_records_older_than_the_maximum_age_are_discarded_before_invoking():
    # arrival 1001..1004; now 2000; max age 997 s -> records arriving before 1003 are too old
    h = Harness(lambda seqs: Result(), clock=lambda: 2000.0, maximum_record_age_s=997)
    assert h.delivery.deliver(records(4))
    assert h.discarded == [(["1", "2"], "RecordAgeExceeded", 0)]
    assert h.calls == [["3", "4"]] and h.checkpoints == ["2", "4"]


def test_stopping_during_retries_leaves_the_batch_unfinished():
    h = Harness(fails_on("1"), bisect_batch_on_function_error=False)  # -1: retry forever
    h.stop_after = 3
    assert h.delivery.deliver(records(2)) is False
    assert h.checkpoints == [] and h.discarded == []


def test_take_batch_honours_batch_size_and_the_6_mb_payload():
    small = deque(records(30))
    assert [r.sequence_number for r in _take_batch(small, 10)] == [str(i) for i in range(1, 11)]
    big = deque(records(10, data="A" * 1_000_000))  # ~1 MB each
    batch = _take_batch(big, 10_000)
    assert len(batch) == 6 and event_size(batch) <= PAYLOAD_LIMIT
    assert event_size(batch + [big[0]]) > PAYLOAD_LIMIT
    assert len(build_event(batch)) == event_size(batch)


def test_failures_while_the_aws_endpoint_is_down_use_no_retry():
    """moto restarting (a crash, `make up`): every invocation fails until it answers again. The
    batch must wait for it, not spend MaximumRetryAttempts and go to the on-failure queue."""
    down = {"left": 12}

    def respond(seqs):
        return Result(error={"errorType": "EndpointConnectionError"}) if down["left"] else Result()

    def outage():
        if down["left"]:
            down["left"] -= 1
            return True
        return False

    h = Harness(respond, maximum_retry_attempts=2, bisect_batch_on_function_error=True)
    h.delivery.outage = outage
    assert h.delivery.deliver(records(4))
    assert h.discarded == [] and h.checkpoints == ["4"]
    assert all(call == ["1", "2", "3", "4"] for call in h.calls)  # not bisected, not dropped
    assert h.delivery.outages >= 1 and h.delivery.records_succeeded == 4


def test_an_unreachable_on_failure_destination_does_not_move_the_checkpoint():
    h = Harness(fails_on("2"), maximum_retry_attempts=0, bisect_batch_on_function_error=False)

    def unreachable(recs, condition, count, last):
        raise RuntimeError("on-failure destination q unreachable")

    h.delivery.discard = unreachable
    with pytest.raises(RuntimeError, match="unreachable"):
        h.delivery.deliver(records(3))
    assert h.checkpoints == []  # the records stay: the poller reads them again
