"""The raw archive: key naming, grouping, encoding, and the archiver Lambda against moto's S3
through retries, bisects, crashes and poison records: every record archived exactly once."""

from __future__ import annotations

import gzip
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipeline.archive import (
    decode_lines,
    encode_lines,
    manifest_key,
    object_key,
    plan_batch,
)
from pipeline.events import parse_event
from pipeline.handlers import archive
from pipeline.resources import ARCHIVE_PREFIX
from tests.unit.stream_records import FIRST_SEQUENCE, REGION, kinesis_event, sequences

BUCKET = "ecommerce-raw-archive-123456789012-us-east-1"
SHARD = "shardId-000000000001"


def sale(line, date="2010-12-01", **fields):
    data = {
        "event_id": f"00aa11bb22cc33dd:{line}",
        "invoice_no": "536365",
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER £",
        "quantity": 6,
        "invoice_date": f"{date}T08:26:00",
        "unit_price": "2.55",
        "customer_id": None,
        "country": "United Kingdom",
    }
    data.update(fields)
    return parse_event(data).to_record_bytes()


# --- pure helpers ---------------------------------------------------------------------------


def test_keys_are_hive_partitioned_and_named_after_the_batch_start():
    assert object_key(ARCHIVE_PREFIX, "2010-12-01", SHARD, "4959") == (
        "raw/sales_events/event_date=2010-12-01/shardId-000000000001-4959.jsonl.gz"
    )
    assert manifest_key(ARCHIVE_PREFIX, SHARD, "4959") == (
        "_archive_manifests/raw/sales_events/shardId-000000000001-4959.json"
    )
    assert not manifest_key(ARCHIVE_PREFIX, SHARD, "1").startswith(ARCHIVE_PREFIX)  # catalog never reads it


def test_encoding_keeps_the_record_data_exactly_and_is_deterministic():
    lines = [sale(2), sale(3, description=None)]
    blob = encode_lines(lines)
    assert blob == encode_lines(lines)  # same bytes on a retry: no spurious change
    assert gzip.decompress(blob) == b"".join(lines)
    assert decode_lines(blob) == lines
    assert gzip.decompress(encode_lines([b'{"a":1}'])) == b'{"a":1}\n'


def test_plan_groups_by_event_date_in_stream_order():
    records = [("1", sale(2)), ("2", sale(3, date="2010-12-02")), ("3", sale(4))]
    plan = plan_batch(records)
    assert plan.objects == {"2010-12-01": [sale(2), sale(4)], "2010-12-02": [sale(3, date="2010-12-02")]}
    assert plan.resume_from is None and plan.poison == []


def test_plan_stops_at_a_later_poison_record():
    plan = plan_batch([("1", sale(2)), ("2", b"{oops"), ("3", sale(3))])
    assert plan.objects == {"2010-12-01": [sale(2)]}
    assert plan.resume_from == "2" and [p.sequence for p in plan.poison] == ["2"]


def test_plan_starting_with_poison_archives_every_valid_record():
    plan = plan_batch([("1", b"{oops"), ("2", sale(2)), ("3", b'{"event_id":"x"}'), ("4", sale(3))])
    assert plan.objects == {"2010-12-01": [sale(2), sale(3)]}
    assert plan.resume_from == "1" and [p.sequence for p in plan.poison] == ["1", "3"]
    assert "event_id" in plan.poison[1].reason


# --- the handler on moto's S3 ---------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch, in_process_aws):
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("ARCHIVE_PREFIX", ARCHIVE_PREFIX)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        archive.use_s3_client(client)
        yield client
        archive.use_s3_client(None)


def archived(client) -> Counter:
    """Every record line under the table prefix, counted."""
    lines: Counter = Counter()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=ARCHIVE_PREFIX):
        for obj in page.get("Contents", []):
            lines.update(decode_lines(client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()))
    return lines


def data_keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=ARCHIVE_PREFIX).get("Contents", []))


def two_day_batch(n=10):
    return [sale(i, date="2010-12-01" if i < 2 + n // 2 else "2010-12-02") for i in range(2, 2 + n)]


def test_a_batch_spanning_two_dates_makes_two_objects(s3):
    datas = two_day_batch()
    event = kinesis_event(datas, shard=SHARD)
    assert archive.handler(event, None) == {"batchItemFailures": []}
    first = sequences(event)[0]
    assert data_keys(s3) == [
        f"raw/sales_events/event_date=2010-12-01/{SHARD}-{first}.jsonl.gz",
        f"raw/sales_events/event_date=2010-12-02/{SHARD}-{first}.jsonl.gz",
    ]
    assert archived(s3) == Counter(datas)


def test_retried_batch_overwrites_instead_of_duplicating(s3):
    datas = two_day_batch()
    for _ in range(3):
        archive.handler(kinesis_event(datas, shard=SHARD), None)
    assert len(data_keys(s3)) == 2 and archived(s3) == Counter(datas)


class CrashingClient:
    """Lets `allowed` data puts through, then fails like a killed or timed-out invocation."""

    def __init__(self, client, allowed, error):
        self.client, self.allowed, self.error = client, allowed, error

    def put_object(self, **kwargs):
        if kwargs["Key"].startswith(ARCHIVE_PREFIX):
            if self.allowed == 0:
                raise self.error
            self.allowed -= 1
        return self.client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.mark.parametrize("allowed", [1, None], ids=["crash-between-objects", "killed-before-answering"])
def test_bisect_after_a_crash_leaves_every_record_once(s3, allowed):
    datas = two_day_batch(10)  # records 0-4 on 12-01, 5-9 on 12-02
    if allowed is None:  # everything written, but the worker died before its answer got out
        archive.handler(kinesis_event(datas, shard=SHARD), None)
    else:
        archive.use_s3_client(CrashingClient(s3, allowed, RuntimeError("worker killed")))
        with pytest.raises(RuntimeError):
            archive.handler(kinesis_event(datas, shard=SHARD), None)
    archive.use_s3_client(s3)
    # The mapping bisects: first half (12-01 only), then the second half from its own start.
    assert archive.handler(kinesis_event(datas[:3], shard=SHARD), None) == {"batchItemFailures": []}
    assert archive.handler(kinesis_event(datas[3:], first=FIRST_SEQUENCE + 3, shard=SHARD), None) == {
        "batchItemFailures": []
    }
    assert archived(s3) == Counter(datas)  # the 12-02 object of the crashed attempt was removed
    assert all(count == 1 for count in archived(s3).values())


def test_s3_error_reports_the_whole_batch_and_the_retry_completes_it(s3):
    datas = two_day_batch()
    event = kinesis_event(datas, shard=SHARD)
    denied = ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "PutObject")
    archive.use_s3_client(CrashingClient(s3, 1, denied))
    assert archive.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": sequences(event)[0]}]}
    archive.use_s3_client(s3)
    assert archive.handler(event, None) == {"batchItemFailures": []}
    assert archived(s3) == Counter(datas)


def test_poison_records_are_reported_never_archived_and_nothing_is_doubled(s3):
    datas = [sale(2), sale(3), b"{not an event", sale(4), sale(5, date="2010-12-02")]
    event = kinesis_event(datas, shard=SHARD)
    event["Records"].append(kinesis_event([b""], first=FIRST_SEQUENCE + 5, shard=SHARD)["Records"][0])
    event["Records"][-1]["kinesis"]["data"] = "@@not-base64@@"
    seqs = sequences(event)
    assert archive.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": seqs[2]}]}
    assert archived(s3) == Counter(datas[:2])
    # The mapping resumes from the poison record; each retry reports it again, archiving the rest once.
    retry = {"Records": event["Records"][2:]}
    for _ in range(3):
        assert archive.handler(retry, None) == {"batchItemFailures": [{"itemIdentifier": seqs[2]}]}
    assert archived(s3) == Counter([sale(2), sale(3), sale(4), sale(5, date="2010-12-02")])


def test_missing_bucket_setting_fails_loudly(s3, monkeypatch):
    monkeypatch.delenv("ARCHIVE_BUCKET")
    with pytest.raises(RuntimeError, match="ARCHIVE_BUCKET"):
        archive.handler(kinesis_event([sale(2)]), None)
