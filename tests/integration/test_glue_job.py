"""The batch path end to end on the local cloud: real moto (patched Glue), real PostgreSQL, real
Spark, the real job script started by `StartJobRun` through boto3.

Archive objects (gzip JSON lines, Hive partitions) include a corrupt gzip object, a line that is
not JSON, a wrong-typed record, guest sales, an exact duplicate source line (distinct event_ids)
and an event archived twice. Four Spark runs in all (each costs seconds on a shared 2-core box).
"""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from emulation.glue.runner import run_job_and_wait
from pipeline.events import SaleEvent

EMBEDDED_ONLY = pytest.mark.embedded_only(
    reason=(
        "a private cloud with the Glue service only, running the job on local Spark through "
        "glue_local; the compose stack's Glue catalog is not published to the host"
    )
)

# Four Spark runs: minutes on a loaded 2-core box (pytest.ini default is 600 s).
pytestmark = [EMBEDDED_ONLY, pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]

JOB = "sales-batch-load"


def event(n: int, **overrides) -> SaleEvent:
    fields = {
        "event_id": f"00000000feedbeef:{n}", "invoice_no": "536365", "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": 6,
        "invoice_date": "2010-12-01T08:26:00", "unit_price": "2.55", "customer_id": "17850",
        "country": "United Kingdom",
    }
    fields.update(overrides)
    return SaleEvent.model_validate(fields)


def gz_lines(*lines: bytes) -> bytes:
    return gzip.compress(b"".join(lines))


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    cloud = cloud_factory(services=["glue"])
    glue = cloud.client("glue")
    if "ecommerce-warehouse" not in {c["Name"] for c in glue.get_connections()["ConnectionList"]}:
        pytest.fail("the Glue connection ecommerce-warehouse was not provisioned: the warehouse "
                    "step (admin secret) must run before the glue step")
    return cloud


@pytest.fixture(scope="module")
def archive(cloud):
    table = cloud.resources.glue_tables[0]
    return cloud.names.bucket(table.bucket), table.prefix


def put(cloud, archive, date: str, name: str, body: bytes) -> str:
    bucket, prefix = archive
    key = f"{prefix}event_date={date}/{name}"
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def partitions(cloud) -> list[list[str]]:
    """The archive table's partitions in the Data Catalog (the job registers them itself)."""
    table = cloud.resources.glue_tables[0]
    pages = cloud.client("glue").get_paginator("get_partitions").paginate(
        DatabaseName=table.database, TableName=table.name)
    return sorted(p["Values"] for page in pages for p in page["Partitions"])


def registered(log: str) -> int:
    """How many new partitions the run's log says it registered."""
    counts = re.findall(
        r"batch: registered (\d+) new partition\(s\) of ecommerce\.raw_sales_events", log)
    assert len(counts) == 1, log[-3000:]
    return int(counts[0])


def run(cloud, **arguments) -> dict:
    result = run_job_and_wait(cloud.client("glue"), JOB, arguments, timeout_s=600, poll_s=1)
    return result


def log_of(cloud, run_id: str) -> str:
    return (cloud.config.logs_dir / "glue" / JOB / f"{run_id}.log").read_text()


def warehouse(cloud, sql: str):
    with psycopg.connect(cloud.warehouse_dsn) as conn:
        return conn.execute(sql).fetchall()


def totals(cloud) -> tuple[int, Decimal, int]:
    ((count, revenue, guests),) = warehouse(
        cloud, "SELECT count(*), sum(line_total), count(*) FILTER (WHERE customer_id IS NULL) "
               "FROM analytics.sales")
    return count, revenue, guests


def test_batch_job_loads_quarantines_and_reruns_add_nothing(cloud, archive):
    first_day = [
        event(2),
        event(3, customer_id=None, description=None),  # a guest sale, description unknown
        event(4),  # same content as line 2, another source line: a distinct sale
        event(5, invoice_no="C536379", quantity=-1, unit_price="27.50"),
        event(6, unit_price="0.001", quantity=12),
    ]
    second_day = [event(7, invoice_date="2010-12-02T10:03:00", unit_price="-11062.06",
                        invoice_no="A563185", quantity=1, customer_id=None)]
    wrong_typed = json.dumps({**event(8).record(), "quantity": "six"}).encode() + b"\n"
    put(cloud, archive, "2010-12-01", "batch-0001.json.gz",
        gz_lines(*(e.to_record_bytes() for e in first_day[:3]), b"this is not json\n",
                 wrong_typed))
    # The archiver retried: event 4 is in this object too.
    put(cloud, archive, "2010-12-01", "batch-0002.json.gz",
        gz_lines(*(e.to_record_bytes() for e in first_day[2:])))
    corrupt = put(cloud, archive, "2010-12-02", "batch-0003.json.gz",
                  gz_lines(*(e.to_record_bytes() for e in second_day))[:-12])
    put(cloud, archive, "2010-12-02", "batch-0004.json.gz",
        gz_lines(*(e.to_record_bytes() for e in second_day)))
    assert partitions(cloud) == []  # nothing outside the job registers partitions

    loaded = first_day + second_day
    expected_revenue = sum(e.line_total for e in loaded)

    # A bad run argument fails the run with the reason, before Spark starts.
    failed = run(cloud, **{"--FROM_DATE": "yesterday"})
    assert failed["JobRunState"] == "FAILED"
    assert "yesterday" in failed["ErrorMessage"] and "YYYY-MM-DD" in failed["ErrorMessage"]
    assert partitions(cloud) == []

    first = run(cloud)
    assert first["JobRunState"] == "SUCCEEDED", first.get("ErrorMessage")
    assert totals(cloud) == (len(loaded), expected_revenue, 2)
    assert warehouse(cloud, "SELECT count(DISTINCT event_id) FROM analytics.sales") == [(6,)]
    ((quantity, price, ts, desc),) = warehouse(
        cloud, "SELECT quantity, unit_price, invoice_date, description FROM analytics.sales "
               "WHERE event_id = '00000000feedbeef:3'")
    assert (quantity, price, str(ts), desc) == (6, Decimal("2.550000"), "2010-12-01 08:26:00",
                                                None)
    quarantine = warehouse(cloud, "SELECT event_id, reason, source_object FROM "
                                  "analytics.sales_quarantine ORDER BY reason")
    reasons = [r for _, r, _ in quarantine]
    assert len(quarantine) == 3, quarantine
    assert any("quantity is not an integer" in r for r in reasons)
    assert any("not a JSON object" in r for r in reasons)
    assert any("corrupt gzip" in r for r in reasons)
    assert (None, next(r for r in reasons if "corrupt" in r), corrupt) in quarantine
    assert ("00000000feedbeef:8", next(r for r in reasons if "quantity" in r),
            corrupt.replace("batch-0003", "batch-0001").replace("2010-12-02", "2010-12-01")
            ) in quarantine
    # Loaded as the job's dedicated user (pipeline/grants.py), never the admin, as on AWS.
    assert warehouse(cloud, "SELECT DISTINCT username FROM localcloud.statement_log "
                            "WHERE label LIKE 'glue%'") == [("glue_loader",)]
    first_log = log_of(cloud, first["Id"])
    assert registered(first_log) == 2
    assert partitions(cloud) == [["2010-12-01"], ["2010-12-02"]]
    assert re.search(r"6 sales to load, 3 quarantined", first_log), first_log[-3000:]
    assert "2 unreadable" in first_log

    # Same archive, bookmark on: nothing new is read, nothing is written.
    second = run(cloud)
    assert second["JobRunState"] == "SUCCEEDED", second.get("ErrorMessage")
    assert totals(cloud) == (len(loaded), expected_revenue, 2)
    assert "0 new object(s)" in log_of(cloud, second["Id"])
    assert registered(log_of(cloud, second["Id"])) == 0

    # More data arrives: a new partition and a new object in a known one.
    later = [event(9, invoice_date="2010-12-03T09:00:00", quantity=3, unit_price="1.25"),
             event(10, quantity=2, unit_price="0.85")]
    put(cloud, archive, "2010-12-03", "batch-0005.json.gz", gz_lines(later[0].to_record_bytes()))
    put(cloud, archive, "2010-12-01", "batch-0006.json.gz", gz_lines(later[1].to_record_bytes()))
    third = run(cloud)
    assert third["JobRunState"] == "SUCCEEDED", third.get("ErrorMessage")
    assert "2 new object(s)" in log_of(cloud, third["Id"])
    assert registered(log_of(cloud, third["Id"])) == 1
    assert partitions(cloud) == [["2010-12-01"], ["2010-12-02"], ["2010-12-03"]]
    expected_revenue += sum(e.line_total for e in later)
    assert totals(cloud) == (len(loaded) + 2, expected_revenue, 2)
    assert expected_revenue == Decimal("-11038.198")  # to the cent (and the tenth of a cent)

    # Bookmark off: everything is read again; the MERGE adds nothing, quarantine is not doubled.
    glue = cloud.client("glue")
    fourth_id = glue.start_job_run(
        JobName=JOB, Arguments={"--job-bookmark-option": "job-bookmark-disable"})["JobRunId"]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName=JOB)
    fourth = _wait(glue, fourth_id)
    assert fourth["JobRunState"] == "SUCCEEDED", fourth.get("ErrorMessage")
    assert fourth["ExecutionTime"] >= 1
    assert totals(cloud) == (len(loaded) + 2, expected_revenue, 2)
    assert warehouse(cloud, "SELECT count(*) FROM analytics.sales_quarantine") == [(3,)]
    runs = glue.get_job_runs(JobName=JOB)["JobRuns"]
    assert {r["Id"] for r in runs} >= {first["Id"], second["Id"], third["Id"], fourth_id}
    assert Path(cloud.config.state_dir / "glue" / "bookmarks" / f"{JOB}.json").exists()


def _wait(glue, run_id: str) -> dict:
    import time

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        state = glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"]
        if state["JobRunState"] not in ("STARTING", "RUNNING"):
            return state
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish")
