"""The Redshift Data API on the local cloud (emulation/redshift/data_api.py behind the moto patch),
and the e2e's warehouse check run through it, as `make e2e-aws` reads the warehouse on AWS:
real moto over HTTP, the real runtime, real PostgreSQL, boto3's redshift-data client."""

from __future__ import annotations

import time

import psycopg
import pytest

from pipeline.client import e2e, sinks
from pipeline.events import SaleEvent
from pipeline.reconcile import figures_of

pytestmark = pytest.mark.embedded_only(
    reason="a private cloud running only the Data API service; rows are written straight into "
           "its warehouse with the superuser DSN")

PREFIX = "0123456789abcdef"


def event(n: int, **overrides) -> SaleEvent:
    fields = {"event_id": f"{PREFIX}:{n}", "invoice_no": "536365", "stock_code": "85123A",
              "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": 6,
              "invoice_date": "2010-12-01T08:26:00", "unit_price": "2.55", "customer_id": "17850",
              "country": "United Kingdom"}
    return SaleEvent.model_validate({**fields, **overrides})


EVENTS = [
    event(1),
    event(2, quantity=3, unit_price="0.001"),
    event(3, invoice_no="536366", customer_id=None, description=None),  # a guest sale
    event(4, invoice_no="C536379", quantity=-1, unit_price="27.50", customer_id="14527"),
]


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    return cloud_factory(services=["redshift-data"])


@pytest.fixture(scope="module")
def loaded(cloud):
    columns = list(EVENTS[0].record())
    rows = [tuple(e.record()[c] for c in columns) for e in EVENTS]
    rows.append(rows[0])  # Firehose delivered event 1 twice: the dedup view counts it once
    other = {**event(9).record(), "event_id": "fedcba9876543210:2"}  # another file's event
    rows.append(tuple(other[c] for c in columns))
    with psycopg.connect(cloud.warehouse_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM stream.sales_events WHERE event_id LIKE %s", (f"{PREFIX}:%",))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO stream.sales_events ({', '.join(columns)}) VALUES "
                            f"({', '.join(['%s'] * len(columns))})", rows)
    return cloud


def data_api_env(cloud, secret_name: str) -> dict[str, str]:
    arn = cloud.client("secretsmanager").describe_secret(SecretId=secret_name)["ARN"]
    env = {k: v for k, v in cloud.env().items() if k != "WAREHOUSE_DSN"}
    return {**env, "API_URL": "http://127.0.0.1:9/v1", "API_KEY": "unused",
            "WAREHOUSE_WORKGROUP": cloud.resources.project,
            "WAREHOUSE_DATABASE": cloud.resources.warehouse.database,
            "WAREHOUSE_SECRET_ARN": arn}


def test_the_e2e_warehouse_check_reconciles_through_the_data_api(loaded, monkeypatch):
    cloud = loaded
    env = data_api_env(cloud, cloud.resources.warehouse.admin_secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoints = e2e.resolve_endpoints("aws", env)
    assert endpoints.warehouse_dsn is None and endpoints.warehouse_data_api is not None
    scope = sinks.Scope(PREFIX, 1, 4)
    expected = figures_of(EVENTS)
    assert (expected.lines, expected.customers, expected.cancellations) == (4, 2, 1)
    read = endpoints.warehouse_reader(scope, e2e.STREAM_VIEW)
    polled = e2e.poll_sinks(expected, {"warehouse stream": read}, timeout_s=60, log=print, poll_s=0.5)
    assert polled.figures["warehouse stream"] == expected
    assert str(expected.revenue) == "3.103"  # to the tenth of a cent: 15.30 + 0.003 + 15.30 - 27.50
    with psycopg.connect(cloud.warehouse_dsn) as conn:
        users = conn.execute("SELECT DISTINCT username FROM localcloud.statement_log "
                             "WHERE label = 'redshift-data'").fetchall()
    assert users == [("warehouse_admin",)]  # as the secret's user, as the Data API does


def _wait(data, statement_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        desc = data.describe_statement(Id=statement_id)
        if desc["Status"] in ("FINISHED", "FAILED", "ABORTED"):
            return desc
        time.sleep(0.2)
    raise AssertionError(f"statement {statement_id} never ended")


def test_data_api_answers_bad_requests_as_aws_does(loaded):
    cloud = loaded
    data = cloud.client("redshift-data")
    env = data_api_env(cloud, cloud.resources.warehouse.admin_secret)
    target = {"WorkgroupName": env["WAREHOUSE_WORKGROUP"], "Database": env["WAREHOUSE_DATABASE"],
              "SecretArn": env["WAREHOUSE_SECRET_ARN"]}
    with pytest.raises(data.exceptions.ValidationException, match="workgroup 'nope' not found"):
        data.execute_statement(**{**target, "WorkgroupName": "nope"}, Sql="SELECT 1")
    with pytest.raises(data.exceptions.ValidationException, match="database 'nope' does not exist"):
        data.execute_statement(**{**target, "Database": "nope"}, Sql="SELECT 1")
    with pytest.raises(data.exceptions.ValidationException, match="not found in Secrets Manager"):
        data.execute_statement(**{**target, "SecretArn": target["SecretArn"] + "x"}, Sql="SELECT 1")
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.describe_statement(Id="00000000-0000-0000-0000-000000000000")
    failed = _wait(data, data.execute_statement(**target, Sql="SELECT * FROM no_such_table")["Id"])
    assert failed["Status"] == "FAILED" and "no_such_table" in failed["Error"]
    ddl = data.execute_statement(**target, Sql="CREATE TEMP TABLE t (x INT)")["Id"]
    assert _wait(data, ddl)["HasResultSet"] is False
    with pytest.raises(data.exceptions.ValidationException, match="no result set"):
        data.get_statement_result(Id=ddl)


def test_the_glue_user_reads_nothing_outside_its_grants(loaded):
    """The Data API runs as the secret's user: the Glue job's user may not read the stream table."""
    cloud = loaded
    data = cloud.client("redshift-data")
    job = cloud.resources.glue_jobs[0]
    env = data_api_env(cloud, job.warehouse_secret)
    target = {"WorkgroupName": env["WAREHOUSE_WORKGROUP"], "Database": env["WAREHOUSE_DATABASE"],
              "SecretArn": env["WAREHOUSE_SECRET_ARN"]}
    denied = _wait(data, data.execute_statement(**target, Sql="SELECT count(*) FROM stream.sales_events")["Id"])
    assert denied["Status"] == "FAILED" and "permission denied" in denied["Error"], denied
    allowed = _wait(data, data.execute_statement(
        **target, Sql=f"SELECT count(*) FROM {job.default_arguments['--TARGET_TABLE']}")["Id"])
    assert allowed["Status"] == "FINISHED", allowed
    records = data.get_statement_result(Id=allowed["Id"])["Records"]
    assert len(records) == 1 and "longValue" in records[0][0]
