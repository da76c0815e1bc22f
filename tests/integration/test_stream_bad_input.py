"""Bad input on the real local cloud: over real HTTP to the gateway, and through the client CLI
(`python -m pipeline.client replay FILE`, a subprocess). Every case is answered with a clear
error naming the problem, and NOTHING is written: no new record on any shard of the stream
(a LATEST iterator per shard taken before, read after) and both DynamoDB tables unchanged.

Expected statuses (API Gateway's order of checks, docs/events.md and pipeline/resources.py):
  413  body over the stage's 10 MB (`api.max_body_bytes`), before anything else
  403  no or unknown API key
  415  not application/json on a route with a request model
  400  not JSON, not the SaleEventBatch model (missing/mistyped field, 0 or 501 events, a field
       too long, a date that does not exist or lies outside 2000-2099), or a rule only the ingest
       function checks (one event id twice in the batch with different content)
  409  an event id already accepted with different content (the ingest function's claims)
A 2 MB body is within both API Gateway's 10 MB and Lambda's 6 MB request limits, so size alone
is no reason to refuse it: a 2 MB body is 400 when a field breaks the model (a 2 MB description;
the model allows 255 characters), and 200 when it is a valid batch padded with JSON whitespace.
Runs on both targets (`--stack`): it reaches the cloud only over HTTP, boto3 and the runtime's
read-only status endpoints.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from emulation.config import REPO_ROOT

from .stream_support import SAMPLE, StreamWatch, dynamodb_digest, post_events, record_data, settle

PREFIX = "00000000000b0d1e"  # not the digest of any file: these ids can never collide with a replay
MB = 1024 * 1024


def sale(line: int = 2, **changes) -> dict:
    event = {
        "event_id": f"{PREFIX}:{line}",
        "invoice_no": "X999999",
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER",
        "quantity": 6,
        "invoice_date": "2010-12-01T08:26:00",
        "unit_price": "2.55",
        "customer_id": None,
        "country": "United Kingdom",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not DROP}


DROP = object()


def batch(*events) -> bytes:
    return json.dumps({"events": list(events)}).encode()


@contextmanager
def nothing_written(cloud):
    settle(cloud, time.time(), timeout=120, firehose=False)  # nothing earlier still in flight
    watch, before = StreamWatch(cloud), dynamodb_digest(cloud)
    yield
    assert watch.new_records() == [], "records were put on the stream"
    settle(cloud, time.time(), timeout=120, firehose=False)
    assert dynamodb_digest(cloud) == before, "DynamoDB changed"


def assert_bad_body(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:2000]
    text = response.text
    for word in words:
        assert word in text, f"{word!r} not in {text[:2000]}"


# ------------------------------------------------------------------------------- over HTTP
@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"events": [', ("Invalid request body",)),
        (b"", ("Invalid request body",)),
        (b"[1, 2, 3]", ("Invalid request body",)),
        (b'{"events": []}', ("Invalid request body", "events")),
    ],
)
def test_bodies_that_are_not_a_batch_are_400(local_cloud, body, words):
    with nothing_written(local_cloud):
        assert_bad_body(post_events(local_cloud, body), 400, *words)


@pytest.mark.parametrize(
    "field, change",
    [
        ("country", DROP),
        ("event_id", DROP),
        ("quantity", "6"),
        ("quantity", 6.5),
        ("unit_price", 2.55),
        ("customer_id", 17850),
        ("invoice_no", "53636X"),
        ("invoice_date", "12/1/2010 8:26"),
        ("invoice_date", "2010-02-30T08:26:00"),  # the published pattern knows the calendar
        ("invoice_date", "0010-06-15T08:26:00"),  # and the range: years below 1000 were lost
        ("line_total", "15.30"),
    ],
)
def test_missing_mistyped_and_unknown_fields_are_400_naming_the_field(local_cloud, field, change):
    bad = sale(3, **{field: change})
    with nothing_written(local_cloud):
        # One bad event among good ones: the whole batch is refused (all or nothing).
        response = post_events(local_cloud, batch(sale(2), bad, sale(4)))
        assert_bad_body(response, 400, "Invalid request body", field)


def test_one_event_id_twice_with_different_content_is_400_naming_both(local_cloud):
    # A rule only the ingest function can check: it needs the whole batch.
    with nothing_written(local_cloud):
        response = post_events(local_cloud, batch(sale(2), sale(3), sale(2, quantity=7)))
        assert_bad_body(response, 400, "nothing was written", "events 0 and 2", "quantity")
        assert [r["index"] for r in response.json()["rejected"]] == [2]


def test_an_event_id_accepted_before_with_other_content_is_409(local_cloud):
    first = post_events(local_cloud, batch(sale(5)))
    assert first.status_code == 200, first.text
    # the second version would go to another invoice, hence another shard and DynamoDB item
    with nothing_written(local_cloud):
        response = post_events(local_cloud, batch(sale(6), sale(5, quantity=7, invoice_no="X999998")))
        assert_bad_body(response, 409, "already accepted with different content", "nothing was written")
        assert [r["index"] for r in response.json()["rejected"]] == [1]
    again = post_events(local_cloud, batch(sale(5)))  # the same version again: a safe resend
    assert again.status_code == 200, again.text


def test_a_batch_of_501_events_is_400(local_cloud):
    body = batch(*(sale(line) for line in range(2, 503)))
    with nothing_written(local_cloud):
        assert_bad_body(post_events(local_cloud, body), 400, "Invalid request body")


def test_a_2mb_body_with_an_oversized_field_is_400(local_cloud):
    body = batch(sale(2, description="X" * (2 * MB)))
    assert 2 * MB < len(body) < 3 * MB
    with nothing_written(local_cloud):
        assert_bad_body(post_events(local_cloud, body), 400, "Invalid request body", "description")


def test_a_2mb_valid_batch_is_accepted_exactly(local_cloud):
    """The control case: size alone is not refused, and the watch does see records."""
    events = [sale(line) for line in range(10, 13)]
    body = batch(*events)[:-1] + b" " * (2 * MB) + b"}"  # padded with JSON whitespace
    assert 2 * MB < len(body) < 3 * MB
    watch = StreamWatch(local_cloud)
    response = post_events(local_cloud, body)
    assert response.status_code == 200, response.text[:2000]
    assert response.json()["accepted_count"] == 3
    written = sorted(json.loads(record_data(r))["event_id"] for r in watch.new_records())
    assert written == [e["event_id"] for e in events]


def test_a_body_over_10mb_is_413(local_cloud):
    body = b" " * (10 * MB + 1)
    with nothing_written(local_cloud):
        response = post_events(local_cloud, body)
        assert response.status_code == 413
        assert response.json() == {"message": "Request Too Long"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_415(local_cloud, content_type):
    with nothing_written(local_cloud):
        response = post_events(local_cloud, batch(sale(2)), content_type=content_type)
        assert_bad_body(response, 415, "Unsupported Media Type")


@pytest.mark.parametrize("key", [None, "no-such-key-000000000000"])
def test_a_valid_batch_without_a_valid_key_is_403(local_cloud, key):
    with nothing_written(local_cloud):
        response = post_events(local_cloud, batch(sale(2)), api_key=key)
        assert response.status_code == 403 and response.json() == {"message": "Forbidden"}


# ------------------------------------------------------------------------------- the client CLI
def replay_cli(cloud, path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **cloud.env(), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.client", "replay", str(path), *args],
        cwd=REPO_ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def sample_text() -> str:
    return gzip.decompress(SAMPLE.read_bytes()).decode("latin-1")


@pytest.mark.parametrize(
    "name, content, words",
    [
        (
            "bom.csv",
            lambda: b"\xef\xbb\xbf" + sample_text().encode("utf-8"),
            ("UTF-8 byte-order mark", "latin-1"),
        ),
        # UTF-8 without a BOM whose first non-ASCII line (a '£') is line 3,313: refused before sending.
        ("utf8.csv", lambda: sample_text().encode("utf-8"), ("line 3313", "UTF-8", "iconv")),
        (
            "header.csv",
            lambda: sample_text().replace("CustomerID", "Customer", 1).encode("latin-1"),
            (
                "wrong header",
                "expected: InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
                "actual:   InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,Customer,Country",
            ),
        ),
        (
            "badrow.csv",
            lambda: sample_text().replace("12/1/2010 8:26", "13/1/2010 8:26", 1).encode("latin-1"),
            ("line 2", "InvoiceDate"),
        ),
    ],
)
def test_client_refuses_a_bad_file_naming_the_problem(local_cloud, tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content())
    with nothing_written(local_cloud):
        done = replay_cli(local_cloud, path)
    assert done.returncode != 0
    for word in words:
        assert word in done.stderr, done.stderr
    assert str(path) in done.stderr  # names the file


def test_client_with_a_wrong_key_stops_naming_the_fix(local_cloud, tmp_path):
    with nothing_written(local_cloud):
        done = replay_cli(local_cloud, SAMPLE, "--limit", "10", env={"API_KEY": "no-such-key-000000000000"})
    assert done.returncode != 0
    assert "403" in done.stderr and "API_KEY" in done.stderr
