"""The console, the e2e run report and redrive, in a real headless browser on a private cloud.

`make e2e` (the CLI, as a subprocess) replays the sample with the Glue job while the console page
is open; once the sinks settle the page must show exactly what the sinks hold, each read here
independently (boto3 scans and GetRecords, S3 objects, SQL), and the e2e table it shows must be
.e2e/reconciliation.json's. The report opened from disk must hold the same table and draw its
charts without any network. Then a record is poisoned (a fault switch on the projector): its batch
lands in the on-failure queue and on the page, `redrive` keeps it while the fault is on, and
re-delivers it once the fault is cleared, after which DynamoDB reconciles exactly.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from emulation.config import REPO_ROOT
from pipeline.resources import ARCHIVE_PREFIX

from .browser_support import browser, figures, new_page, number, screenshot  # noqa: F401 (fixture)
from .stream_support import (
    FAST_FIREHOSE_SPEC,
    SAMPLE,
    STREAM,
    derived_source,
    dynamodb_items,
    dynamodb_lines,
    events_of,
    replay_events,
    source_lines,
    wait_until,
)

pytestmark = pytest.mark.embedded_only(
    reason="a private cloud with a 2 s Firehose buffer and its own e2e report path; poisons a record "
           "with the runtime's fault switches"
)

PROJECTOR_QUEUE = "sales-projector-failures"
WAREHOUSE_TABLES = ("stream.sales_events", "stream.sales_events_dedup", "analytics.sales",
                    "analytics.sales_quarantine")


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def cloud(cloud_factory, e2e_dir):
    # The console shows the reconciliation this module's e2e writes, not the repository's.
    return cloud_factory(resources=FAST_FIREHOSE_SPEC,
                         extra_env={"LOCALCLOUD_E2E_REPORT": str(e2e_dir / "reconciliation.json")})


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def cli(cloud, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, **cloud.env()}
    return subprocess.run([sys.executable, "-m", "pipeline.client", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------- what the sinks hold
def stream_records(cloud) -> dict[str, int]:
    kinesis, counts = cloud.client("kinesis"), {}
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        n = 0
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            n += len(page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
        counts[shard["ShardId"]] = n
    return counts


def archive_lines(cloud) -> list[bytes]:
    s3, bucket, lines = cloud.client("s3"), cloud.names.bucket("raw-archive"), []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ARCHIVE_PREFIX):
        for obj in page.get("Contents", []):
            lines += gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()).splitlines()
    return [line for line in lines if line.strip()]


def sinks_now(cloud) -> dict[str, int]:
    """Every figure the page must show, read here without the console's code."""
    expected = {f"kinesis.{sid}": n for sid, n in stream_records(cloud).items()}
    expected["kinesis.records"] = sum(expected.values())
    for table in ("invoice", "customer"):
        expected[f"dynamodb.{table}"] = len(dynamodb_items(cloud, table))
    s3 = cloud.client("s3")
    bucket = cloud.names.bucket("raw-archive")
    expected["archive.objects"] = sum(
        len(p.get("Contents", [])) for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ARCHIVE_PREFIX))
    ids = [json.loads(line)["event_id"] for line in archive_lines(cloud)]
    expected["archive.lines"], expected["archive.events"] = len(ids), len(set(ids))
    with psycopg.connect(cloud.warehouse_dsn, connect_timeout=10) as conn:
        for table in WAREHOUSE_TABLES:
            expected[f"warehouse.{table}"] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    sqs = cloud.client("sqs")
    for queue in (PROJECTOR_QUEUE, "sales-archiver-failures"):
        attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
                                         AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        expected[f"queue.{queue}.depth"] = int(attrs["ApproximateNumberOfMessages"])
    return expected


def page_agrees(page, expected: dict[str, int]) -> dict[str, tuple]:
    """The figures where the page differs from `expected` (empty: it agrees)."""
    shown = figures(page)
    return {k: (number(shown.get(k)), v) for k, v in expected.items() if number(shown.get(k)) != v}


# ------------------------------------------------------------------------------- the tests
def test_console_shows_what_the_sinks_hold_during_a_sample_replay(cloud, browser, e2e_dir, shots):  # noqa: F811
    page = new_page(browser)
    page.goto(cloud.env()["CONSOLE_URL"])
    page.wait_for_function("document.body.dataset.updated !== undefined", timeout=30000)
    e2e = subprocess.Popen(
        [sys.executable, "-m", "pipeline.client", "e2e", "--data", str(SAMPLE), "--batch",
         "--json-out", str(e2e_dir / "reconciliation.json"), "--sink-timeout", "300"],
        cwd=REPO_ROOT, env={**os.environ, **cloud.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: (number(figures(page).get("api.events_accepted")) or 0) > 0, timeout=120,
                   what="the page counting accepted events while the replay runs", every=0.2)
        screenshot(page, shots, "console-during-replay")
        output, _ = e2e.communicate(timeout=540)
    finally:
        if e2e.poll() is None:
            e2e.kill()
    assert e2e.returncode == 0, output
    result = json.loads((e2e_dir / "reconciliation.json").read_text())
    assert result["ok"] and result["sinks"]["warehouse batch"]["lines"] == 3933, result

    expected = sinks_now(cloud)
    expected["api.events_accepted"] = result["replay"]["accepted"]
    expected["glue.rows_loaded"] = expected["warehouse.analytics.sales"]
    expected["consumer.sales-projector.behind"] = expected["consumer.sales-archiver.behind"] = 0
    assert expected["kinesis.records"] == expected["archive.events"] == 3933  # the test reads what it should

    differ: dict = {}

    def agrees() -> bool:
        differ.clear()
        differ.update(page_agrees(page, expected))
        # The sinks may settle before e2e writes its report: the page shows it one refresh later.
        when = figures(page).get("e2e.when") or ""
        if "every sink reconciles" not in when:
            differ["e2e.when"] = (when, "every sink reconciles")
        return not differ

    try:
        wait_until(agrees, timeout=90, what="the console's figures settle on the sinks'", every=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; page vs sinks (shown, read here): {differ}") from None
    finally:
        screenshot(page, shots, "console-after-e2e")
    shown = figures(page)
    assert shown["glue.state"] == "SUCCEEDED"
    assert "every sink reconciles" in shown["e2e.when"], shown["e2e.when"]
    cells = page.evaluate("() => Object.fromEntries(Array.from(document.querySelectorAll('[data-e2e]'))"
                          ".map(e => [e.dataset.e2e, e.textContent.trim()]))")
    for figure, value in result["source"].items():
        assert cells[f"source.{figure}"] == str(value)
        for sink, values in result["sinks"].items():
            assert cells[f"{sink}.{figure}"] == str(values[figure]), (sink, figure)
    timings = page.evaluate("() => Array.from(document.querySelectorAll('[data-timing]')).map(e => e.dataset.timing)")
    assert timings[0] == "replay" and timings[-1] == "total" and "batch job" in timings
    assert page.errors == []
    page.close()


def test_report_opened_from_disk_equals_the_reconciliation(browser, e2e_dir, shots):  # noqa: F811
    result = json.loads((e2e_dir / "reconciliation.json").read_text())
    assert set(result["timings"]) >= {"replay_s", "sinks_caught_up_s", "batch_job_s", "reconciliation_s", "total_s"}
    assert set(result["timings"]["sinks_caught_up_s"]) == {"dynamodb", "s3 archive", "warehouse stream"}
    page = new_page(browser, 1280, 900)
    fetched: list[str] = []
    page.route("**/*", lambda route: (fetched.append(route.request.url), route.continue_()))
    page.goto((e2e_dir / "report.html").as_uri())
    page.wait_for_selector("#throughput svg path")
    screenshot(page, shots, "e2e-report")
    table = page.evaluate("""() => {
        const rows = Array.from(document.querySelectorAll('#reconciliation tr'));
        const head = Array.from(rows[0].children).map(c => c.textContent.trim());
        return rows.slice(1).map(r => Object.fromEntries(Array.from(r.children).map((c, i) => [head[i], c.textContent.trim()])));
    }""")
    assert [row["figure"] for row in table] == list(result["source"])
    for row in table:
        figure = row["figure"]
        assert row["source"] == str(result["source"][figure])
        for sink, values in result["sinks"].items():
            assert row[sink] == (str(values[figure]) if values else "n/a"), (sink, figure)
    drawn = page.evaluate("() => Array.from(document.querySelectorAll('#throughput path')).map(p => p.dataset.series)")
    assert "client (accepted)" in drawn and any(name.startswith("dynamodb") for name in drawn), drawn
    histogram = page.evaluate("() => DATA.latency.counts.reduce((a, b) => a + b, 0)")
    assert histogram == result["replay"]["requests"]
    assert [u for u in fetched if not u.startswith("file://")] == []  # self-contained: no network
    assert page.errors == []
    page.close()


def test_poisoned_batch_is_listed_kept_while_failing_and_redriven_once_fixed(cloud, browser, tmp_path, shots):  # noqa: F811
    path = derived_source(tmp_path, "poison", slice(0, 400))
    expected = source_lines(path)
    poison = sorted(expected)[150]
    fault = httpx.post(f"{cloud.runtime_url}/faults", timeout=10,
                       json={"function": "sales-projector", "fail_on_substring": json.dumps(poison)})
    assert fault.status_code == 200, fault.text
    try:
        assert replay_events(cloud, events_of(path)).accepted == 400
        sqs = cloud.client("sqs")
        url = sqs.get_queue_url(QueueName=PROJECTOR_QUEUE)["QueueUrl"]
        wait_until(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"] == "1", timeout=120,
                   what="the poisoned batch in the projector's on-failure queue")
        # Long-polled: the console may be holding the message for a moment while it lists the queue.
        message = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=20)["Messages"][0]
        info = json.loads(message["Body"])["KinesisBatchInfo"]

        page = new_page(browser)
        page.goto(cloud.env()["CONSOLE_URL"])
        row = page.wait_for_selector(f'[data-batch="{PROJECTOR_QUEUE}"]', timeout=60000)
        text = row.text_content()
        assert info["shardId"] in text and f"{info['startSequenceNumber']} … {info['endSequenceNumber']}" in text, text
        assert "RetryAttemptsExhausted" in text
        screenshot(page, shots, "console-failed-batch")
        assert set(expected) - set(dynamodb_lines(cloud, poison.split(":")[0])), "the batch never reached DynamoDB"

        still = cli(cloud, "redrive", "--attempts", "1")
        assert still.returncode == 1 and "still fails" in still.stdout, still.stdout + still.stderr
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                                        )["Attributes"]["ApproximateNumberOfMessages"] == "1"  # kept, visible again
    finally:
        httpx.delete(f"{cloud.runtime_url}/faults", timeout=10)

    dry = cli(cloud, "redrive", "--dry-run")
    assert dry.returncode == 0 and "still in the stream" in dry.stdout, dry.stdout + dry.stderr
    done = cli(cloud, "redrive")
    assert done.returncode == 0 and "message deleted" in done.stdout, done.stdout + done.stderr
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    lines = dynamodb_lines(cloud, poison.split(":")[0])
    assert set(lines) == set(expected)
    assert all(lines[e] == (expected[e].invoice_no, expected[e].quantity, expected[e].line_total) for e in expected)
    page.wait_for_function(f"() => !document.querySelector('[data-batch=\"{PROJECTOR_QUEUE}\"]')", timeout=60000)
    screenshot(page, shots, "console-after-redrive")
    assert page.errors == []
