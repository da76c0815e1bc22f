"""`make e2e`'s sink polling with fakes: the DynamoDB gate (the replay's last invoices read by key),
the interval and the deadline, the endpoints and the Glue endpoint of the batch step.

A fake clock stands in for time: a read "takes" the seconds it adds to it, a sleep adds its own.
The property the gate must keep: a sink reconciles only on a full read, and a gate that never
opens still ends in a full read at the deadline.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.client import e2e, sinks
from pipeline.client.api import ApiError
from pipeline.client.e2e import poll_sinks
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


def poll(readers, clock, timeout_s=300.0, poll_s=5.0, gates=None):
    logs: list[str] = []
    polled = poll_sinks(EXPECTED, readers, gates=gates, timeout_s=timeout_s, log=logs.append,
                        poll_s=poll_s, clock=clock, sleep=clock.sleep)
    return polled, logs


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


# ------------------------------------------------------------------------------ the rounds
def test_the_gate_skips_full_reads_until_the_last_invoices_are_complete():
    clock = Clock()
    full = Reader(clock, [EXPECTED], seconds=10)
    gate = Reader(clock, [tail_check(False)] * 3 + [tail_check(True)], seconds=0.1)
    polled, logs = poll({"dynamodb": full}, clock, gates={"dynamodb": gate})
    assert polled.figures == {"dynamodb": EXPECTED}
    assert (len(full.calls), len(gate.calls)) == (1, 4)  # only once the gate opened
    assert polled.caught_up == {"dynamodb": full.calls[0]}
    assert logs[0] == "e2e: waiting for dynamodb (no full read yet; last 1 invoices: 0 complete, 3/15 lines)"


def test_an_open_gate_decides_nothing_the_full_read_does():
    clock = Clock()
    full = Reader(clock, [BEHIND, BEHIND, EXPECTED], seconds=1)
    gate = Reader(clock, [tail_check(True)], seconds=0.1)
    polled, logs = poll({"dynamodb": full}, clock, gates={"dynamodb": gate})
    assert polled.figures == {"dynamodb": EXPECTED} and len(full.calls) == 3
    assert [lines for _, _, lines in polled.reads] == [60, 60, 100]
    assert logs[0] == "e2e: waiting for dynamodb (60/100 lines)"


def test_a_gate_that_never_opens_still_ends_in_a_full_read_at_the_deadline():
    """The gate may be stricter than the figures (or plain wrong): once the deadline has passed,
    the sink is read fully, so the verdict is the full read's, here OK."""
    clock = Clock()
    start = clock.t
    full = Reader(clock, [EXPECTED], seconds=10)
    gate = Reader(clock, [tail_check(False)], seconds=0.7)
    polled, logs = poll({"dynamodb": full}, clock, timeout_s=120, gates={"dynamodb": gate})
    assert polled.figures == {"dynamodb": EXPECTED} and len(full.calls) == 1
    assert start + 120 <= full.calls[0] - full.seconds < start + 121  # the wait ends at the deadline
    assert not any("timed out" in line for line in logs)


def test_at_the_deadline_a_sink_still_behind_is_reported_as_a_last_full_read_found_it():
    clock = Clock()
    full = Reader(clock, [BEHIND], seconds=10)
    archive = Reader(clock, [EXPECTED], seconds=0.5)
    polled, logs = poll({"dynamodb": full, "s3 archive": archive}, clock, timeout_s=120,
                        gates={"dynamodb": Reader(clock, [tail_check(False)], seconds=0.7)})
    assert polled.figures == {"dynamodb": BEHIND, "s3 archive": EXPECTED}
    assert len(full.calls) == 1 and len(archive.calls) == 1  # the gate kept it to the final read
    assert polled.caught_up["dynamodb"] is None and polled.caught_up["s3 archive"] is not None
    assert logs[-1] == "e2e: timed out after 120 s; still behind at a last full read: dynamodb (60/100 lines)"


def test_reading_takes_at_most_a_third_of_the_time():
    clock = Clock()
    slow = Reader(clock, [BEHIND] * 5 + [EXPECTED], seconds=12)
    polled, _ = poll({"warehouse stream": slow}, clock, timeout_s=1000)
    assert polled.figures == {"warehouse stream": EXPECTED}
    assert clock.sleeps == [24] * 5


def test_the_wait_is_the_poll_interval_for_quick_reads_and_ends_at_the_deadline():
    clock = Clock()
    start = clock.t
    reader = Reader(clock, [BEHIND], seconds=1)
    polled, _ = poll({"warehouse stream": reader}, clock, timeout_s=14, poll_s=5)
    assert polled.figures == {"warehouse stream": BEHIND}
    # reads end at 1, 7, 13; the wait after the third is cut to the deadline (14), then the last read
    assert clock.sleeps == [5, 5, 1] and reader.calls == [start + 1, start + 7, start + 13, start + 15]


def test_a_sink_never_read_stays_none_and_the_others_still_reconcile():
    clock = Clock()
    broken = Reader(clock, [RuntimeError("no such table")])
    ok = Reader(clock, [EXPECTED])
    polled, logs = poll({"warehouse stream": broken, "s3 archive": ok}, clock, timeout_s=30)
    assert polled.figures == {"warehouse stream": None, "s3 archive": EXPECTED}
    assert len(ok.calls) == 1 and len(broken.calls) > 2  # polled again until the deadline
    assert any("warehouse stream not readable yet: no such table" in line for line in logs)


def test_a_long_wait_for_the_projector_keeps_polling_until_the_gate_opens():
    """The full-dataset case: the gate stays closed for minutes while the projector catches up."""
    clock = Clock()
    gate = Reader(clock, [tail_check(False)] * 60 + [tail_check(True)], seconds=1.5)
    full = Reader(clock, [EXPECTED], seconds=60)
    polled, logs = poll({"dynamodb": full}, clock, timeout_s=3600, gates={"dynamodb": gate})
    assert polled.figures == {"dynamodb": EXPECTED}
    assert (len(gate.calls), len(full.calls)) == (61, 1)
    assert not any("timed out" in line for line in logs)


# ------------------------------------------------------------------------------ Glue endpoint
def test_glue_endpoint_comes_from_the_service_specific_variable():
    env = {"API_URL": "http://x/v1", "API_KEY": "k", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
           "AWS_ENDPOINT_URL_GLUE": "http://127.0.0.1:4570", "WAREHOUSE_DSN": "host=h dbname=d"}
    endpoints = e2e.resolve_endpoints("aws", env)
    assert (endpoints.aws_endpoint, endpoints.glue_endpoint) == ("http://127.0.0.1:4566", "http://127.0.0.1:4570")
    assert e2e.resolve_endpoints("aws", {**env, "AWS_ENDPOINT_URL_GLUE": ""}).glue_endpoint is None


def test_a_local_stack_without_endpoints_in_the_environment_is_refused_with_the_fix():
    """`make e2e` exports the local cloud's endpoints; the client never asks the emulator itself."""
    with pytest.raises(ApiError, match=r"no API_URL/API_KEY for stack 'embedded': `make e2e` exports them.*make up"):
        e2e.resolve_endpoints("embedded", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    env = {"API_URL": "http://127.0.0.1:4567/v1", "API_KEY": "k", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
           "LOCALCLOUD_RUNTIME_URL": "http://127.0.0.1:4568"}
    endpoints = e2e.resolve_endpoints("embedded", env)
    assert (endpoints.api_url, endpoints.aws_endpoint, endpoints.runtime_url) == (
        env["API_URL"], env["AWS_ENDPOINT_URL"], env["LOCALCLOUD_RUNTIME_URL"])


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
