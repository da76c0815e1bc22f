"""The console's and redrive's pure parts: counters, the archive counter, on-failure records,
the redriven event's shape (the same as the mappings' own), partial-batch responses, the report."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime

import pytest

from emulation.apigateway.metrics import ApiMetrics, batch_size
from emulation.awslambda.events import EventRenderer, build_event
from emulation.console.sources import ArchiveCounter, Every
from emulation.metrics import Histogram
from pipeline.client import redrive
from pipeline.client.failures import BadFailureMessage, FailedBatch, parse_all
from pipeline.client.report_html import latency_histogram, reconciliation_table
from tests.aws_examples import AWS_ON_FAILURE_EXAMPLE


def test_histogram_quantiles_are_within_ten_percent():
    h = Histogram()
    for ms in range(1, 1001):
        h.add(float(ms))
    assert h.count == 1000
    assert 500 <= h.quantile(0.5) <= 550 and 990 <= h.quantile(0.99) <= 1090
    assert Histogram().quantile(0.5) is None


def test_api_metrics_count_events_by_outcome():
    m = ApiMetrics()
    m.record(200, 500, b"{}", 12.0)
    m.record(400, None, json.dumps({"message": "Invalid request body"}).encode(), 1.0)
    m.record(400, 3, json.dumps({"message": "3 events break the rules", "rejected": [{}, {}, {}]}).encode(), 2.0)
    m.record(429, None, json.dumps({"message": "Too Many Requests"}).encode(), 0.5)
    m.record(503, 10, json.dumps({"message": "some failed", "accepted_count": 7}).encode(), 30.0)
    snap = m.snapshot()
    assert snap["events_accepted"] == 507
    assert snap["requests"] == {"200": 1, "400": 2, "429": 1, "503": 1} and snap["throttled"] == 1
    assert snap["events_rejected"] == {"400 N events break the rules": 3, "503 some failed": 3}
    assert snap["requests_rejected"]["400 Invalid request body"] == 1
    assert snap["latency"]["count"] == 5
    assert batch_size({"events": [1, 2]}) == 2 and batch_size(None) is None


class FakeS3:
    def __init__(self, objects: dict[str, bytes]):
        self.objects, self.gets = objects, 0

    def get_paginator(self, _name):
        return self

    def paginate(self, Bucket, Prefix):  # noqa: N803 - boto3's names
        yield {"Contents": [{"Key": k, "ETag": str(len(v)), "Size": len(v)} for k, v in sorted(self.objects.items())]}

    def get_object(self, Bucket, Key):  # noqa: N803
        self.gets += 1
        return {"Body": io.BytesIO(self.objects[Key])}


def _lines(*ids: str) -> bytes:
    return gzip.compress(b"".join(json.dumps({"event_id": i, "quantity": 1}).encode() + b"\n" for i in ids))


def test_archive_counter_reads_each_object_once_and_counts_redeliveries():
    prefix = "0123456789abcdef"
    s3 = FakeS3({"a.gz": _lines(f"{prefix}:2", f"{prefix}:3"), "b.gz": _lines(f"{prefix}:3", f"{prefix}:90000")})
    counter = ArchiveCounter(s3, "bucket", "raw/")
    assert counter.refresh(max_objects=1) | {} == {"objects": 1, "lines": 2, "events": 2, "redelivered_lines": 0,
                                                     "bytes": len(s3.objects["a.gz"]), "complete": False}
    figures = counter.refresh()
    assert (figures["objects"], figures["lines"], figures["events"], figures["redelivered_lines"]) == (2, 4, 3, 1)
    assert figures["complete"] and s3.gets == 2
    counter.refresh()
    assert s3.gets == 2  # nothing new: nothing read


def test_every_reruns_on_trigger_change_but_not_faster_than_min():
    calls, key = [], [0]
    every = Every(lambda: calls.append(1) or len(calls), period_s=3600, trigger=lambda: key[0], min_s=0)
    assert every.get() == 1 and every.get() == 1
    key[0] = 1
    assert every.get() == 2
    slow = Every(lambda: calls.append(1) or len(calls), period_s=3600, trigger=lambda: key[0], min_s=3600)
    slow.get()
    key[0] = 2
    assert slow.get() == slow.value and len(calls) == 3


def _message(doc, message_id="m1") -> dict:
    return {"MessageId": message_id, "ReceiptHandle": "r1", "Body": json.dumps(doc)}


def test_failed_batch_reads_the_aws_example():
    batch = FailedBatch.from_message("q", _message(AWS_ON_FAILURE_EXAMPLE),
                                     now=datetime(2019, 11, 14, 0, 39, 6, 21000, tzinfo=UTC).timestamp())
    assert (batch.function, batch.stream_name, batch.shard_id) == ("myfunction", "mystream", "shardId-000000000001")
    assert batch.batch_size == 500 and batch.age_s == 60.0 and batch.function_error == "Unhandled"
    assert batch.reason.startswith("RetryAttemptsExhausted") and "receipt_handle" not in batch.as_json()
    batches, problems = parse_all("q", [_message(AWS_ON_FAILURE_EXAMPLE), _message({"hello": 1}, "m2")])
    assert len(batches) == 1 and "m2" in problems[0] and "not a Kinesis on-failure record" in problems[0]
    with pytest.raises(BadFailureMessage):
        FailedBatch.from_message("q", {"MessageId": "x", "ReceiptHandle": "r", "Body": "not json"})


def test_redriven_event_is_the_event_the_mapping_builds():
    raw = {"PartitionKey": "C536379 x\u00e9", "SequenceNumber": "42", "Data": b'{"event_id": "a:1"}',
           "ApproximateArrivalTimestamp": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)}
    args = ("shardId-000000000001", "arn:aws:kinesis:us-east-1:123456789012:stream/s", "us-east-1",
            "arn:aws:iam::123456789012:role/f-role")
    mapping_event = json.loads(build_event([EventRenderer(*args).render_raw(raw)]))
    assert {"Records": [redrive.kinesis_record(raw, *args)]} == mapping_event


def _record(seq: str) -> dict:
    return {"kinesis": {"sequenceNumber": seq, "data": "x" * 10}}


def test_partial_batch_responses_resend_from_the_lowest_failed_record():
    pending = [_record("1"), _record("2"), _record("3")]
    body = json.dumps({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}).encode()
    assert redrive._failed_from(body, pending) == "2"
    assert redrive._failed_from(b'{"batchItemFailures": []}', pending) is None
    assert redrive._failed_from(b"null", pending) is None
    assert redrive._failed_from(b'{"batchItemFailures": [{"itemIdentifier": "9"}]}', pending) == "1"


class FakeLambda:
    def __init__(self, replies):
        self.replies, self.events = list(replies), []

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803
        self.events.append(json.loads(Payload))
        error, body = self.replies.pop(0)
        reply = {"Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            reply["FunctionError"] = "Unhandled"
        return reply


def test_invoke_until_done_keeps_a_batch_whose_function_still_fails():
    records = [_record("1"), _record("2")]
    partial = FakeLambda([(False, {"batchItemFailures": [{"itemIdentifier": "2"}]}), (False, None)])
    outcome = redrive.Outcome(batch=None)
    redrive.invoke_until_done(partial, "f", records, item_failures=True, attempts=3, outcome=outcome, sleep=lambda s: None)
    assert [len(e["Records"]) for e in partial.events] == [2, 1] and outcome.invocations == 2
    failing = FakeLambda([(True, {"errorType": "KeyError", "errorMessage": "boom"})] * 2)
    with pytest.raises(redrive.RedriveError, match="still fails .KeyError: boom. after 2 attempt"):
        redrive.invoke_until_done(failing, "f", records, item_failures=True, attempts=2,
                                  outcome=redrive.Outcome(batch=None), sleep=lambda s: None)


def test_chunks_respect_the_batch_size():
    assert [len(c) for c in redrive.chunks([_record(str(i)) for i in range(5)], 2)] == [2, 2, 1]


def test_report_table_marks_mismatches_and_unchecked_sinks():
    figures = {"lines": 2, "invoices": 1, "customers": 1, "quantity": 3, "revenue": "4.5", "cancellations": 0}
    html = reconciliation_table({"source": figures, "sinks": {"a": figures, "b": {**figures, "lines": 1}, "c": None}})
    assert '<td class="n bad">1 !</td>' in html and "n/a" in html and html.count("<tr>") == 7  # the head and six figures
    histogram = latency_histogram([0.01, 0.03, 0.03, 45.0])
    assert sum(histogram["counts"]) == 4 and histogram["counts"][0] == 1 and histogram["counts"][-1] == 1


def test_bench_report_lists_every_printed_ratio(tmp_path):
    from bench.report import ratios, write

    found = ratios("cloud", "PutRecords 5,677/s  stock 320/s (17.7x)\nno ratio here\nGetRecords (0.42x) and 2x")
    assert [r["ratio"] for r in found] == [17.7, 0.42, 2.0] and found[1]["label"] == "cloud #2"
    path = write([{"name": "cloud", "ok": False, "seconds": 3.0, "output": "a (1.5x)"}], 0.0, tmp_path / "r.html")
    text = path.read_text()
    assert "FAILED" in text and '"ratio": 1.5' in text and "<script src" not in text
