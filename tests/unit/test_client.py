"""The replay client against a stub API on loopback: retries, Retry-After, 503 partials, errors,
pacing and the summary."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.client.__main__ import main
from pipeline.client.api import ApiError, EventsApi, RetryPolicy, retry_after_seconds
from pipeline.client.replay import Pacer, Progress, Summary, percentile, replay
from pipeline.source import SourceFile, read_events

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "ecommerce-sample.csv.gz"
KEY = "test-key"


class StubApi:
    """POST /v1/events; `script` is a list of (status, headers, mode) answers used in order, then 200."""

    def __init__(self):
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.bodies.append(body)
                    status, headers, mode = stub.script.pop(0) if stub.script else (200, {}, "ok")
                events = body["events"]
                if self.headers.get("x-api-key") != KEY:
                    status, mode = 403, "forbidden"
                if mode == "half":  # the ingest function's 503: first half accepted
                    half = len(events) // 2
                    payload = {"accepted": [{"index": i} for i in range(half)],
                               "failed": [{"index": i} for i in range(half, len(events))]}
                elif mode == "reject":
                    payload = {"message": "bad", "rejected": [{"index": 0, "event_id": events[0]["event_id"],
                                                               "problems": ["quantity: bad"]}]}
                else:
                    payload = {"accepted_count": len(events)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def _server():
    server = StubApi()
    yield server
    server.close()


@pytest.fixture
def stub(_server):
    _server.script, _server.bodies = [], []
    return _server


@pytest.fixture(scope="module")
def events():
    return list(read_events(SourceFile.open(SAMPLE), limit=40))


def api_for(stub, sleeps, **kwargs):
    return EventsApi(stub.url, KEY, sleep=sleeps.append, rand=lambda: 0.5, timeout_s=5, **kwargs)


def test_retries_429_and_5xx_honouring_retry_after(stub, events):
    stub.script = [(429, {"Retry-After": "3"}, "x"), (502, {}, "x"), (500, {}, "x")]
    sleeps: list[float] = []
    outcome = api_for(stub, sleeps).send(events[:10])
    assert outcome.accepted == 10 and outcome.retries == 3 and not outcome.failed
    # Retry-After exactly; then full jitter (rand pinned to 0.5) on base 0.2 s doubling.
    assert sleeps == [3.0, 0.5 * 0.4, 0.5 * 0.8]
    assert len(stub.bodies) == 4 and all(len(b["events"]) == 10 for b in stub.bodies)


def test_503_partial_resends_only_failed_events(stub, events):
    stub.script = [(503, {"Retry-After": "1"}, "half")]
    sleeps: list[float] = []
    outcome = api_for(stub, sleeps).send(events[:10])
    assert outcome.accepted == 10 and sleeps == [1.0]
    assert [e["event_id"] for e in stub.bodies[1]["events"]] == [e.event_id for e in events[5:10]]


def test_bounded_attempts_report_failed_events(stub, events):
    stub.script = [(503, {}, "x")] * 10
    sleeps: list[float] = []
    outcome = api_for(stub, sleeps, policy=RetryPolicy(max_attempts=3)).send(events[:4])
    assert outcome.failed == [e.event_id for e in events[:4]] and outcome.accepted == 0
    assert len(stub.bodies) == 3 and len(sleeps) == 2 and "HTTP 503" in outcome.failed_reason


def test_400_is_rejected_not_retried(stub, events):
    stub.script = [(400, {}, "reject")]
    outcome = api_for(stub, []).send(events[:3])
    assert outcome.accepted == 0 and outcome.rejected[0]["problems"] == ["quantity: bad"]
    assert len(stub.bodies) == 1


def test_403_stops_with_a_clear_message(stub, events):
    api = EventsApi(stub.url, "wrong-key", sleep=lambda s: None)
    with pytest.raises(ApiError, match="refused the key.*API_KEY"):
        api.send(events[:1])


def test_unreachable_api_is_named(events):
    api = EventsApi("http://127.0.0.1:9/v1", KEY, sleep=lambda s: None)
    with pytest.raises(ApiError, match="cannot reach the API at http://127.0.0.1:9/v1/events"):
        api.send(events[:1])


class Outage:
    """httpx transport: answers 200, then refuses `refusals` connections (the API's process is
    gone: a runtime crash, `make down && make up`), then answers 200 again."""

    def __init__(self, refusals: int):
        self.refusals, self.posts = refusals, 0

    def __call__(self, request):
        import httpx

        self.posts += 1
        if self.posts > 1 and self.refusals:
            self.refusals -= 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, json={"accepted_count": len(json.loads(request.content)["events"])})


def _outage_api(outage: Outage, clock: list[float], **kwargs) -> EventsApi:
    import httpx

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return EventsApi("http://127.0.0.1:9/v1", KEY, sleep=sleep, rand=lambda: 0.5,
                     transport=httpx.MockTransport(outage), clock=lambda: clock[0], **kwargs)


def test_an_api_that_answered_is_waited_for_when_it_refuses_connections(events):
    """A runtime restart refuses connections for a while: the batch waits for the API (more
    refusals than the attempts a batch has) and is then sent, nothing lost."""
    outage, clock = Outage(refusals=30), [0.0]
    api = _outage_api(outage, clock, policy=RetryPolicy(max_attempts=8))
    assert api.send(events[:5]).accepted == 5  # the API answers: it is known to exist
    outcome = api.send(events[5:10])
    assert outcome.accepted == 5 and not outcome.failed
    assert outcome.retries == 30 and outage.posts == 32
    assert 0 < clock[0] <= 30 * 2.0  # retried every few seconds at most


def test_an_outage_longer_than_the_limit_stops_with_a_message(events):
    outage, clock = Outage(refusals=10_000), [0.0]
    api = _outage_api(outage, clock, outage_s=60.0)
    api.send(events[:1])
    with pytest.raises(ApiError, match="stopped accepting connections 60 s ago.*make up"):
        api.send(events[1:2])
    assert 60.0 <= clock[0] <= 64.0


def test_missing_url_or_key():
    with pytest.raises(ApiError, match="no API URL"):
        EventsApi("", KEY)
    with pytest.raises(ApiError, match="no API key"):
        EventsApi("http://x", None)  # type: ignore[arg-type]


def test_retry_after_forms():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:05 GMT", now=lambda: 1445412480.0) == 5.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("9999") == 60.0


def test_replay_sends_everything_concurrently_and_summarises(stub, events):
    stub.script = [(429, {"Retry-After": "0"}, "x")]
    api = api_for(stub, [])
    summary = replay(api, iter(events), batch_size=7, concurrency=3)
    assert summary.sent == 40 and summary.accepted == 40 and summary.ok
    assert summary.requests == 7 and summary.retried == 1  # ceil(40/7)=6 batches + 1 retry
    sent = sorted(e["event_id"] for b in stub.bodies for e in b["events"])
    assert len(set(sent)) == 40
    assert summary.as_json()["events_per_s"] > 0


def test_pacer_rate_and_speedup(events):
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(round(s, 6))
        now[0] += s

    pacer = Pacer(rate=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait(events[:5])
    assert slept == [0.5, 0.5]  # 5 events at 10 ev/s: half a second apart

    first, later = events[0], events[-1]
    gap = (later.invoice_date - first.invoice_date).total_seconds()
    assert gap > 0
    now[0], slept[:] = 0.0, []
    pacer = Pacer(speedup=gap / 2, clock=lambda: now[0], sleep=sleep)
    pacer.wait([first])
    pacer.wait([later])
    assert slept == [2.0]
    with pytest.raises(ValueError, match="not both"):
        Pacer(rate=1, speedup=1)


def test_percentiles_and_summary_math():
    assert percentile([], 0.5) == 0
    values = [i / 1000 for i in range(1, 101)]
    assert percentile(values, 0.5) == 0.05 and percentile(values, 0.99) == 0.099
    summary = Summary(sent=10, accepted=10, elapsed_s=4.0, latencies=values)
    assert summary.events_per_s == 2.5 and summary.latency_ms(0.99) == pytest.approx(99.0)


def test_cli_replay_end_to_end(stub, capsys):
    rc = main(["replay", str(SAMPLE), "--api-url", stub.url, "--api-key", KEY, "--limit", "25",
               "--skip", "5", "--batch-size", "10"])
    out = capsys.readouterr().out
    assert rc == 0 and "sent 25  accepted 25  rejected 0  failed 0" in out
    ids = [e["event_id"] for b in stub.bodies for e in b["events"]]
    assert sorted(int(i.split(":")[1]) for i in ids) == list(range(7, 32))  # batches run concurrently


def test_cli_replay_403_exits_2(stub, capsys):
    rc = main(["replay", str(SAMPLE), "--api-url", stub.url, "--api-key", "nope", "--limit", "3"])
    assert rc == 2 and "refused the key" in capsys.readouterr().err


# ------------------------------------------------------------------------------ progress
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_bar_that_ends_at_the_total():
    stream = Terminal()
    progress = Progress(total=10, stream=stream)
    progress.update(Summary(sent=4, accepted=4))
    progress.update(Summary(sent=10, accepted=9, retried=1), force=True)
    out = stream.getvalue()
    assert "10/10" in out and "accepted 9  retried 1" in out and "━" in out  # rich's bar


def test_progress_elsewhere_is_a_plain_line_every_interval_and_at_the_end():
    stream = io.StringIO()
    progress = Progress(total=None, stream=stream, every_s=3600)
    progress.update(Summary(sent=4, accepted=4))  # within the interval: nothing
    progress.update(Summary(sent=10, accepted=10), force=True)
    (line,) = stream.getvalue().splitlines()
    assert line.startswith("10 events  accepted 10  retried 0  ") and line.endswith(" ev/s")
    assert "\r" not in stream.getvalue()


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--outage-wait", "-5", "seconds >= 0"),
    ("--outage-wait", "nan", "seconds >= 0"),
    ("--timeout", "0", "more than 0 seconds"),
    ("--concurrency", "0", "at least 1"),
    ("--batch-size", "-1", "at least 1"),
])  # fmt: skip
def test_nonsense_durations_and_counts_are_refused_naming_the_flag(capsys, flag, value, says):
    with pytest.raises(SystemExit) as exit_:
        main(["replay", str(SAMPLE), flag, value, "--api-url", "http://127.0.0.1:9/v1", "--api-key", KEY])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and says in err, err


def test_a_negative_sink_timeout_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["e2e", "--data", str(SAMPLE), "--sink-timeout", "-1"])
    assert "argument --sink-timeout" in capsys.readouterr().err
