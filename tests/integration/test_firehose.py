"""Firehose delivery on a real local cloud: patched moto over HTTP, the runtime process with its
Firehose service, and the embedded PostgreSQL, which the tests stop and start again."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from emulation.config import REPO_ROOT

pytestmark = pytest.mark.embedded_only(
    reason="a private cloud with a Firehose-only description, whose warehouse it stops and starts"
)

RESOURCES = "tests.integration.firehose_resources:RESOURCES"
NAME = "sales-to-warehouse"


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    return cloud_factory(resources=RESOURCES, services=["firehose"], fresh=True)


def event(i: int, batch: str) -> dict:
    return {"event_id": f"{batch}:{i}", "invoice_no": "536365", "stock_code": "85123A",
            "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": 6,
            "invoice_date": "2010-12-01T08:26:00", "unit_price": "2.55", "customer_id": None,
            "country": "United Kingdom", "line_total": "15.3", "is_cancellation": False}


def put(cloud, batch: str, count: int) -> set[str]:
    kinesis = cloud.client("kinesis")
    records = [event(i, batch) for i in range(1, count + 1)]
    for start in range(0, count, 500):
        chunk = records[start:start + 500]
        response = kinesis.put_records(StreamName="sales-events", Records=[
            {"Data": (json.dumps(r) + "\n").encode(), "PartitionKey": r["event_id"]} for r in chunk])
        assert response["FailedRecordCount"] == 0
    return {r["event_id"] for r in records}


def status(cloud) -> dict:
    deliveries = httpx.get(f"{cloud.runtime_url}/firehose", timeout=10).json()["deliveries"]
    return next(d for d in deliveries if d["name"] == NAME)


def wait_for(cloud, predicate, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = status(cloud)
        if predicate(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"Firehose did not get there in {timeout:.0f} s: {current}")
        time.sleep(0.2)


def query(cloud, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(cloud.warehouse_dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def ids_like(cloud, batch: str) -> list[str]:
    return [r[0] for r in query(cloud, "SELECT event_id FROM stream.sales_events WHERE event_id LIKE %s",
                                (f"{batch}:%",))]


def test_delivery_stream_is_described_in_the_aws_api(cloud):
    described = cloud.client("firehose").describe_delivery_stream(DeliveryStreamName=NAME)["DeliveryStreamDescription"]
    assert described["DeliveryStreamType"] == "KinesisStreamAsSource"
    copy = described["Destinations"][0]["RedshiftDestinationDescription"]["CopyCommand"]
    assert copy["DataTableName"] == "stream.sales_events"


def test_copies_follow_the_buffer_interval_and_nothing_is_inserted_row_by_row(cloud):
    before = status(cloud)
    expected = set()
    for burst in range(3):  # three bursts further apart than the 2 s buffer interval
        expected |= put(cloud, f"burst{burst}", 120)
        wait_for(cloud, lambda s, n=before["records_delivered"] + 120 * (burst + 1): s["records_delivered"] >= n)
    after = status(cloud)
    assert after["copies"] - before["copies"] == 3
    assert after["objects_written"] - before["objects_written"] == 3
    assert sorted(ids_like(cloud, "burst%")) == sorted(expected)
    log = query(cloud, "SELECT kind, rows, username FROM localcloud.statement_log WHERE label = %s AND succeeded "
                       "ORDER BY id", (f"firehose:{NAME}",))
    assert [k for k, _, _ in log] == ["COPY"] * len(log) and len(log) >= 3
    assert {u for _, _, u in log} == {"firehose_loader"}  # the dedicated user, from Secrets Manager
    assert sum(r for _, r, _ in log[-3:]) == 360
    # No single-row INSERT reached the warehouse from any path of this cloud.
    assert query(cloud, "SELECT count(*) FROM localcloud.statement_log WHERE kind = 'INSERT'") == [(0,)]
    keys = [o["Key"] for o in cloud.client("s3").list_objects_v2(
        Bucket=cloud.names.bucket("firehose-staging"), Prefix="firehose/")["Contents"]]
    data = [k for k in keys if k.endswith(".gz")]
    assert all(k.split("/")[5].startswith(f"{NAME}-1-") for k in data)  # firehose/YYYY/MM/dd/HH/name-1-...


def test_a_burst_larger_than_the_buffer_size_is_cut_into_objects_of_at_most_that_size(cloud):
    import gzip

    size_mb = 1  # tests.integration.firehose_resources
    before = status(cloud)
    s3 = cloud.client("s3")
    bucket = cloud.names.bucket("firehose-staging")
    existing = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="firehose/").get("Contents", [])}
    expected = put(cloud, "size", 10_000)  # ~3 MB in well under the 2 s interval
    wait_for(cloud, lambda s: s["records_delivered"] >= before["records_delivered"] + 10_000)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="firehose/")["Contents"]
                  if o["Key"].endswith(".gz") and o["Key"] not in existing)
    sizes = [len(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    record_max = max(len(json.dumps(event(i, "size")) + "\n") for i in (1, 10_000))
    # Buffered to the size hint, as AWS does: no object holds more than the hint plus one record,
    # so a 3 MB burst needs at least 3 objects (the interval alone would have made one or two).
    assert all(size <= size_mb * 1024 * 1024 + record_max for size in sizes), sizes
    assert len(keys) >= -(-sum(sizes) // (size_mb * 1024 * 1024)) >= 3
    assert status(cloud)["copies"] - before["copies"] == len(keys)  # one COPY per object
    assert sorted(ids_like(cloud, "size")) == sorted(expected)


def test_loader_may_only_insert_into_its_table(cloud):
    secret = json.loads(cloud.client("secretsmanager").get_secret_value(
        SecretId="ecommerce/warehouse/firehose")["SecretString"])
    assert set(secret) == {"username", "password", "host", "port", "dbname", "engine"}
    dsn = psycopg.conninfo.make_conninfo(host=secret["host"], port=secret["port"], dbname=secret["dbname"],
                                         user=secret["username"], password=secret["password"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM stream.sales_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM stream.sales_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM analytics.sales")


def test_a_short_warehouse_outage_loses_nothing(cloud):
    before = status(cloud)
    cloud.warehouse_stop()
    try:
        expected = put(cloud, "outage", 200)
        wait_for(cloud, lambda s: s["copy_failures"] > before["copy_failures"], timeout=30)
        time.sleep(2)
    finally:
        cloud.warehouse_start()
    after = wait_for(cloud, lambda s: s["records_delivered"] >= before["records_delivered"] + 200)
    assert after["skipped_loads"] == before["skipped_loads"]
    assert sorted(ids_like(cloud, "outage")) == sorted(expected)  # all of them, once each


def test_an_outage_past_the_retry_duration_is_recovered_without_loss_or_doubles(cloud):
    before = status(cloud)
    cloud.warehouse_stop()
    try:
        lost = put(cloud, "long", 150)
        wait_for(cloud, lambda s: s["skipped_loads"] > before["skipped_loads"], timeout=90)
    finally:
        cloud.warehouse_start()
    later = put(cloud, "after", 50)
    wait_for(cloud, lambda s: s["records_delivered"] >= before["records_delivered"] + 50)
    assert ids_like(cloud, "long") == []
    assert sorted(ids_like(cloud, "after")) == sorted(later)
    s3 = cloud.client("s3")
    bucket = cloud.names.bucket("firehose-staging")
    errors = s3.list_objects_v2(Bucket=bucket, Prefix="firehose-errors/manifests/").get("Contents", [])
    assert len(errors) == 1

    def recover():
        return subprocess.run([sys.executable, "-m", "emulation.firehose.service", "recover", "--state-dir",
                               str(cloud.config.state_dir), "--name", NAME],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    first = recover()
    assert first.returncode == 0, first.stderr
    assert "150 record(s) loaded" in first.stdout
    assert sorted(ids_like(cloud, "long")) == sorted(lost)
    second = recover()
    assert second.returncode == 0, second.stderr
    assert "0 skipped load(s) recovered" in second.stdout
    assert query(cloud, "SELECT count(*), count(DISTINCT event_id) FROM stream.sales_events WHERE event_id LIKE "
                        "'long:%' OR event_id LIKE 'after:%'") == [(200, 200)]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="firehose-errors/recovered/")["KeyCount"] == 1
    secret = json.loads(cloud.client("secretsmanager").get_secret_value(
        SecretId="ecommerce/warehouse/admin")["SecretString"])
    assert secret["password"] not in first.stdout + first.stderr


def test_recover_names_an_unknown_delivery_stream(cloud):
    result = subprocess.run([sys.executable, "-m", "emulation.firehose.service", "recover", "--state-dir",
                             str(cloud.config.state_dir), "--name", "no-such-stream"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no firehose named 'no-such-stream'" in result.stderr


def test_make_cost_reads_the_statement_log(cloud):
    result = subprocess.run([sys.executable, "-m", "emulation.redshift.cost_report", "--state-dir", str(cloud.config.state_dir),
                             "--json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    copies = [g for g in report["by_kind_and_label"] if g["kind"] == "COPY" and g["label"] == f"firehose:{NAME}"]
    assert copies and copies[0]["rows"] >= 360
    assert report["row_by_row"]["charge_usd"] > report["charge_usd"] > 0
