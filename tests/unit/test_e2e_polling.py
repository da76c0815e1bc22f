"""`make e2e`'s sink polling with fakes: the DynamoDB gate (the replay's last invoices read by key),
the adaptive interval and the deadline, and the Glue endpoint of the batch step.

A fake clock stands in for time: a read "takes" the seconds it adds to it, a sleep adds its own.
The property the gate must keep: a sink reconciles only on a full read, and a gate that never
opens still ends in a full read before the deadline.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.client import e2e, sinks
from pipeline.client.api import ApiError
from pipeline.client.e2e import GatedSink, NextRound, PolledSink, plan_next, poll_sinks
from pipeline.client.sinks import InvoiceTail, Scope, TailCheck, read_invoice_tail
from pipeline.reconcile import Figures

EXPECTED = Figures(lines=100, invoices=10, customers=5, quantity=500, revenue=Decimal("123.45"),
                   cancellations=2)
BEHIND = Figures(lines=60, invoices=6, customers=4, quantity=300, revenue=Decimal(70), cancellations=1)
SCOPE = Scope("d07aec9960083af2", 2, 101)


class Clock:
    def __init__(self):
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class Reader:
    """A full read taking `seconds`, returning `results` in turn (the last one repeats)."""

    def __init__(self, clock: Clock, results: list, seconds: float = 1.0):
        self.clock, self.results, self.seconds = clock, list(results), seconds
        self.calls: list[float] = []  # clock time each read ended

    def __call__(self):
        self.clock.t += self.seconds
        self.calls.append(self.clock.t)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, Exception):
            raise result
        return result


def tail_check(complete: bool) -> TailCheck:
    return TailCheck({"581587": 15}, {"581587": 15 if complete else 3})


def poll(polled, clock, timeout_s=300.0, poll_s=5.0):
    logs: list[str] = []
    observed = poll_sinks(EXPECTED, polled, timeout_s=timeout_s, log=logs.append, poll_s=poll_s,
                          clock=clock, sleep=clock.sleep)
    return observed, logs


# ------------------------------------------------------------------------------ the tail
def test_tail_is_the_last_invoices_by_their_last_line_with_their_line_counts():
    tail = InvoiceTail(size=3)
    for invoice_no in ["536365", "536365", "536366", "C536379", "536366", "536367", "536367", "536368"]:
        tail.add(invoice_no)
    assert tail.expected() == {"536366": 2, "536367": 2, "536368": 1}
    assert list(InvoiceTail(size=10)._lines) == [] and InvoiceTail().expected() == {}


def test_tail_check_complete_only_when_every_invoice_holds_its_lines():
    check = TailCheck({"a": 3, "b": 2}, {"a": 3, "b": 1})
    assert not check.complete and check.lines == 4 and check.expected_lines == 5
    assert check.render() == "last 2 invoices: 1 complete, 4/5 lines"
    assert not TailCheck({"a": 3}, {}).complete  # an invoice not written yet holds nothing
    # More lines than sent cannot be "behind": the gate opens and the full read reports it.
    assert TailCheck({"a": 3}, {"a": 4}).complete


class FakeDynamoDB:
    """BatchGetItem over `items` (invoice_no -> event ids of its lines); the first `unprocessed`
    answers leave their last key unprocessed, as DynamoDB may under load."""

    def __init__(self, items: dict[str, list[str]], unprocessed: int = 0):
        self.items, self.unprocessed, self.requests = items, unprocessed, []

    def batch_get_item(self, RequestItems):
        self.requests.append(RequestItems)
        (table, request), = RequestItems.items()
        keys = [key["invoice_no"]["S"] for key in request["Keys"]]
        assert len(keys) <= 100 and all(key["page"] == {"S": "0"} for key in request["Keys"])
        left: list[str] = []
        if self.unprocessed and keys:
            self.unprocessed -= 1
            keys, left = keys[:-1], keys[-1:]
        responses = [
            {"invoice_no": {"S": no}, "lines": {"M": {eid: {"L": []} for eid in self.items[no]}}}
            for no in keys if no in self.items
        ]
        page = {"Responses": {table: responses}}
        if left:
            page["UnprocessedKeys"] = {table: {**request, "Keys": [{"invoice_no": {"S": no}, "page": {"S": "0"}}
                                                                   for no in left]}}
        return page


def test_read_invoice_tail_counts_only_lines_in_scope(monkeypatch):
    monkeypatch.setattr(sinks.time, "sleep", lambda _s: None)
    client = FakeDynamoDB({
        "581586": [f"{SCOPE.prefix}:{n}" for n in (95, 96, 97)],
        # a line of another file and one past the replayed range do not count
        "581587": [f"{SCOPE.prefix}:98", f"{SCOPE.prefix}:99", "0000000000000000:99", f"{SCOPE.prefix}:102"],
    }, unprocessed=1)
    check = read_invoice_tail(SCOPE, {"581586": 3, "581587": 3, "581588": 1}, endpoint=None,
                              region="us-east-1", client=client)
    assert check.found == {"581586": 3, "581587": 2}
    assert not check.complete and check.lines == 5
    first = client.requests[0]["invoice"]
    assert first["ProjectionExpression"] == "invoice_no, #l, pages" and first["ExpressionAttributeNames"] == {"#l": "lines"}
    assert len(client.requests) == 2  # the unprocessed key was asked again


def test_read_invoice_tail_asks_at_most_100_keys_at_a_time():
    client = FakeDynamoDB({str(n): [f"{SCOPE.prefix}:{2 + n % 100}"] for n in range(150)})
    check = read_invoice_tail(SCOPE, {str(n): 1 for n in range(150)}, endpoint=None,
                              region="us-east-1", client=client)
    assert check.complete and [len(r["invoice"]["Keys"]) for r in client.requests] == [100, 50]


def test_keys_left_unprocessed_count_as_holding_nothing(monkeypatch):
    monkeypatch.setattr(sinks.time, "sleep", lambda _s: None)
    client = FakeDynamoDB({"a": [f"{SCOPE.prefix}:2"], "b": [f"{SCOPE.prefix}:3"]}, unprocessed=99)
    check = read_invoice_tail(SCOPE, {"a": 1, "b": 1}, endpoint=None, region="us-east-1",
                              client=client, max_attempts=3)
    assert len(client.requests) == 3 and check.found == {"a": 1} and not check.complete


# ------------------------------------------------------------------------------ the interval
def test_wait_is_the_poll_interval_or_twice_the_last_round():
    assert plan_next(0, 600, poll_s=5, last_round_s=1, estimate_s=1) == NextRound(5, False)
    assert plan_next(0, 600, poll_s=5, last_round_s=20, estimate_s=20) == NextRound(40, False)


def test_no_round_starts_unless_twice_its_estimate_fits_before_the_deadline():
    # start at 40, latest start 100 - 2 x 20 = 60: fits, but no round would fit after it
    assert plan_next(0, 100, poll_s=5, last_round_s=20, estimate_s=20) == NextRound(40, True)
    assert plan_next(0, 79, poll_s=5, last_round_s=20, estimate_s=20) is None
    assert plan_next(99, 100, poll_s=5, last_round_s=0, estimate_s=0) is None


# ------------------------------------------------------------------------------ the rounds
def test_the_gate_skips_full_reads_until_the_last_invoices_are_complete():
    clock = Clock()
    full = Reader(clock, [EXPECTED], seconds=10)
    gate = Reader(clock, [tail_check(False)] * 3 + [tail_check(True)], seconds=0.1)
    sink = GatedSink("dynamodb", full, gate, clock=clock)
    observed, logs = poll([sink], clock)
    assert observed == {"dynamodb": EXPECTED}
    assert (sink.full_reads, sink.gate_checks) == (1, 4)  # only once the gate opened
    assert logs[0] == "e2e: waiting for dynamodb (no full read yet; last 1 invoices: 0 complete, 3/15 lines)"


def test_an_open_gate_decides_nothing_the_full_read_does():
    clock = Clock()
    full = Reader(clock, [BEHIND, BEHIND, EXPECTED], seconds=1)
    sink = GatedSink("dynamodb", full, Reader(clock, [tail_check(True)], seconds=0.1), clock=clock)
    observed, _ = poll([sink], clock)
    assert observed == {"dynamodb": EXPECTED} and sink.full_reads == 3


def test_a_gate_that_never_opens_still_ends_in_a_full_read_before_the_deadline():
    """The gate may be stricter than the figures (or plain wrong): the last round that fits reads
    fully, so the verdict is the full read's, here OK."""
    clock = Clock()
    start = clock.t
    full = Reader(clock, [EXPECTED], seconds=10)
    sink = GatedSink("dynamodb", full, Reader(clock, [tail_check(False)], seconds=0.7), clock=clock)
    observed, logs = poll([sink], clock, timeout_s=120)
    assert observed == {"dynamodb": EXPECTED} and sink.full_reads == 1
    # Never read fully before, its cost was unknown: the final read starts before the deadline.
    assert full.calls[-1] - full.seconds <= start + 120
    assert not any("timed out" in line for line in logs)


def test_at_the_deadline_a_sink_is_reported_as_its_last_full_read_found_it():
    clock = Clock()
    start = clock.t
    full = Reader(clock, [BEHIND], seconds=10)
    sink = GatedSink("dynamodb", full, Reader(clock, [tail_check(False)], seconds=0.7), clock=clock)
    archive = PolledSink("s3 archive", Reader(clock, [EXPECTED], seconds=0.5), clock=clock)
    observed, logs = poll([sink, archive], clock, timeout_s=120)
    assert observed == {"dynamodb": BEHIND, "s3 archive": EXPECTED}
    assert len(full.calls) == 1  # only the last round that fit, not every round
    assert full.calls[-1] - full.seconds <= start + 120
    assert "timed out" in logs[-1] and "dynamodb (60/100 lines)" in logs[-1]


def test_reading_takes_at_most_a_third_of_the_time():
    clock = Clock()
    slow = PolledSink("warehouse stream", Reader(clock, [BEHIND] * 5 + [EXPECTED], seconds=12),
                      clock=clock)
    observed, _ = poll([slow], clock, timeout_s=1000)
    assert observed == {"warehouse stream": EXPECTED}
    assert clock.sleeps and all(s >= 24 for s in clock.sleeps)


def test_no_round_is_started_that_would_end_after_the_deadline():
    clock = Clock()
    start = clock.t
    reader = Reader(clock, [BEHIND], seconds=30)
    observed, logs = poll([PolledSink("warehouse stream", reader, clock=clock)], clock, timeout_s=200)
    assert observed == {"warehouse stream": BEHIND}
    assert all(end <= start + 200 for end in reader.calls)
    # a round of 30 s needs 60 s left: the rounds end at 30, 120 (wait 60), stop there (80 s left)
    assert reader.calls == [start + 30, start + 120]
    assert "another round would not end well within the 200 s sink timeout (80 s left)" in logs[-1]


def test_a_sink_never_read_stays_none_and_the_others_still_reconcile():
    clock = Clock()
    broken = PolledSink("warehouse stream", Reader(clock, [RuntimeError("no such table")]), clock=clock)
    ok = PolledSink("s3 archive", Reader(clock, [EXPECTED]), clock=clock)
    observed, logs = poll([broken, ok], clock, timeout_s=30)
    assert observed == {"warehouse stream": None, "s3 archive": EXPECTED}
    assert any("warehouse stream not readable yet: no such table" in line for line in logs)


def test_the_full_read_estimate_grows_with_the_items_still_to_come():
    clock = Clock()
    walked = {"items": 0}
    sink = GatedSink("dynamodb", Reader(clock, [BEHIND], seconds=4), lambda: tail_check(False),
                     items=lambda: walked["items"], clock=clock)
    sink.poll(final=True)  # a full read to scale from
    walked["items"] = 10  # 6 invoice + 4 customer items, all in scope: 4 + 1 items to come
    assert sink.estimate(EXPECTED) == pytest.approx(4 * 15 / 10)
    walked["items"] = 100_000  # other files' items dominate: the tables barely grow
    assert sink.estimate(EXPECTED) == pytest.approx(4 * 100_005 / 100_000)
    walked["items"] = 0  # nothing written yet: at most 10x
    empty = GatedSink("dynamodb", Reader(clock, [Figures()], seconds=4), lambda: tail_check(False),
                      items=lambda: walked["items"], clock=clock)
    empty.poll(final=True)
    assert empty.estimate(EXPECTED) == pytest.approx(40)
    never = GatedSink("dynamodb", Reader(clock, [BEHIND], seconds=4), Reader(clock, [tail_check(False)], seconds=0.5),
                      clock=clock)
    never.poll(final=False)  # the gate only: nothing to scale a full read from
    assert never.estimate(EXPECTED) == pytest.approx(0.5)


# ------------------------------------------------------------------------------ Glue endpoint
def test_glue_endpoint_comes_from_the_service_specific_variable():
    env = {"API_URL": "http://x/v1", "API_KEY": "k", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
           "AWS_ENDPOINT_URL_GLUE": "http://127.0.0.1:4570", "WAREHOUSE_DSN": "host=h dbname=d"}
    endpoints = e2e.resolve_endpoints("aws", env)
    assert (endpoints.aws_endpoint, endpoints.glue_endpoint) == ("http://127.0.0.1:4566", "http://127.0.0.1:4570")
    assert e2e.resolve_endpoints("aws", {**env, "AWS_ENDPOINT_URL_GLUE": ""}).glue_endpoint is None


def test_on_aws_the_warehouse_is_read_through_the_data_api_or_the_run_refuses():
    env = {"API_URL": "https://x/v1", "API_KEY": "k"}
    with pytest.raises(ApiError, match="no warehouse to check on AWS.*python -m deploy env"):
        e2e.resolve_endpoints("aws", env)
    data_api = {"WAREHOUSE_WORKGROUP": "wg", "WAREHOUSE_DATABASE": "db",
                "WAREHOUSE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:a"}
    with pytest.raises(ApiError):  # a partial target is no target
        e2e.resolve_endpoints("aws", {**env, **data_api, "WAREHOUSE_SECRET_ARN": ""})
    endpoints = e2e.resolve_endpoints("aws", {**env, **data_api})
    assert endpoints.warehouse_data_api == sinks.DataApiTarget("wg", "db", data_api["WAREHOUSE_SECRET_ARN"])
    assert endpoints.warehouse_reader(sinks.Scope("0" * 16, 1, 2), "stream.sales_events_dedup")


def test_the_batch_step_asks_glue_at_its_own_endpoint(monkeypatch):
    made: list[tuple[str, str | None]] = []

    class FakeGlue:
        def start_job_run(self, JobName):
            return {"JobRunId": "jr_1"}

        def get_job_run(self, JobName, RunId):
            return {"JobRun": {"JobRunState": "SUCCEEDED"}}

    def client(service, endpoint, region):
        made.append((service, endpoint))
        return FakeGlue() if service == "glue" else object()

    monkeypatch.setattr(sinks, "_client", client)
    state = sinks.run_batch_job(endpoint="http://127.0.0.1:4566", region="us-east-1", log=lambda _t: None,
                                glue_endpoint="http://127.0.0.1:4570")
    assert state == "SUCCEEDED"
    assert made == [("glue", "http://127.0.0.1:4570")]
    made.clear()
    sinks.run_batch_job(endpoint="http://127.0.0.1:4566", region="us-east-1", log=lambda _t: None)
    assert ("glue", "http://127.0.0.1:4566") in made


def test_a_long_wait_for_the_projector_keeps_polling_until_the_gate_opens():
    """The full-dataset case: the gate stays closed for minutes while the projector catches up;
    with nothing read fully yet, the rounds must go on (a guess of the full read's cost from
    the gate's once stopped them at once)."""
    clock = Clock()
    gate = Reader(clock, [tail_check(False)] * 60 + [tail_check(True)], seconds=1.5)
    sink = GatedSink("dynamodb", Reader(clock, [EXPECTED], seconds=60), gate, clock=clock)
    observed, logs = poll([sink], clock, timeout_s=3600)
    assert observed == {"dynamodb": EXPECTED}
    assert (sink.gate_checks, sink.full_reads) == (61, 1)
    assert not any("timed out" in line for line in logs)
