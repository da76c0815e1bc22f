"""The stream path end to end on the real local cloud (`local_cloud`: the real description, every
service): the sample is replayed through the REST API by the product's own client
(`python -m pipeline.client e2e`, a subprocess), then every sink is reconciled with the source,
and the query API is asked what the source says. Runs on both targets (`--stack`): it reaches the
cloud only over HTTP, boto3 and the warehouse DSN.

Firehose keeps the real description's 60 s buffer interval: the e2e command polls the warehouse
until it agrees (about 65 s), bounded by `--sink-timeout`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal

import httpx
import pytest

from emulation.config import REPO_ROOT

from .stream_support import (
    SAMPLE,
    SAMPLE_FIGURES,
    archive_counts,
    assert_every_sink_exact,
    figures,
    source_lines,
    warehouse_counts,
)

SINKS = ("dynamodb", "s3 archive", "warehouse stream")


@pytest.fixture(scope="module")
def source():
    return source_lines(SAMPLE)


def require_sinks_without(cloud, source) -> None:
    """The exact counts below need sinks that do not hold the sample yet. A fresh embedded cloud
    never does; a compose stack does after an earlier `make e2e`, and its warehouse volume
    outlives `make down`."""
    prefix = next(iter(source)).split(":")[0]
    held = {
        "s3 archive": sum(archive_counts(cloud, prefix).values()),
        "warehouse stream": sum(warehouse_counts(cloud, prefix).values()),
    }
    if any(held.values()):
        pytest.fail(
            f"the target already holds events of the sample (ids {prefix}:*, lines per sink: "
            f"{held}), so exact counts cannot hold; on compose start from empty volumes: "
            "`docker compose down --volumes && make up STACK=compose`",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def e2e_run(local_cloud, source, tmp_path_factory):
    """`python -m pipeline.client e2e` over the sample, against this session's cloud."""
    require_sinks_without(local_cloud, source)
    out = tmp_path_factory.mktemp("e2e") / "reconciliation.json"
    env = {**os.environ, **local_cloud.env()}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.client",
            "e2e",
            "--data",
            str(SAMPLE),
            "--rows",
            "all",
            "--json-out",
            str(out),
            "--sink-timeout",
            "150",
        ],
        cwd=REPO_ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    print(f"e2e over the sample took {elapsed:.1f} s")
    return done, (json.loads(out.read_text()) if out.exists() else None), elapsed


def test_source_figures_are_the_documented_ones(source):
    assert figures(source.values()) == SAMPLE_FIGURES


def test_e2e_command_reconciles_every_sink_exactly(e2e_run):
    done, result, _ = e2e_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert result["ok"] is True and result["mismatches"] == []
    # every sink holds each event id in one version (conflicts 0), and ingest refused none
    assert result["source"] == {**SAMPLE_FIGURES, "conflicts": 0}
    for sink in SINKS:
        assert result["sinks"][sink] == {**SAMPLE_FIGURES, "conflicts": 0}, sink
    assert result["conflicts_refused"] == 0
    assert result["sinks"]["warehouse batch"] is None  # --batch not asked for: not checked
    assert result["replay"]["sent"] == result["replay"]["accepted"] == 3933
    assert result["replay"]["rejected"] == result["replay"]["failed"] == 0
    assert result["scope"] == {"prefix": "ae85410b33a32865", "first_line": 2, "last_line": 3934}
    assert "OK, every sink reconciles" in done.stderr


def test_every_event_is_in_every_sink_exactly_once(local_cloud, e2e_run, source):
    """Per event, not only in total: DynamoDB lines, archive lines and warehouse rows by event_id."""
    assert e2e_run[0].returncode == 0
    counts = assert_every_sink_exact(local_cloud, source, timeout=120)
    assert counts == {"archive_lines": 3933, "warehouse_rows": 3933}


# ------------------------------------------------------------------------------- query API
def _get(cloud, path: str, key: str | None = "default") -> httpx.Response:
    headers = {"x-api-key": cloud.api_key if key == "default" else key} if key else {}
    return httpx.get(f"{cloud.api_url}{path}", headers=headers, timeout=30)


def _invoice_lines(source, invoice_no):
    return sorted(
        (ln for ln in source.values() if ln.invoice_no == invoice_no),
        key=lambda ln: int(ln.event_id.split(":")[1]),
    )


@pytest.mark.parametrize("invoice_no", ["536365", "C536548", "536591", "536370"])
def test_get_invoice_returns_what_the_source_says(local_cloud, e2e_run, source, invoice_no):
    lines = _invoice_lines(source, invoice_no)
    assert lines, f"{invoice_no} is not in the sample"
    response = _get(local_cloud, f"/invoices/{invoice_no}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invoice_no"] == invoice_no
    assert body["customer_id"] == lines[0].customer_id
    assert body["country"] == lines[0].country
    assert body["is_cancelled"] is invoice_no.startswith("C")
    assert body["line_count"] == len(lines)
    assert body["quantity"] == sum(ln.quantity for ln in lines)
    assert Decimal(body["revenue"]) == sum(ln.line_total for ln in lines)
    assert body["first_invoice_date"] == min(ln.invoice_date for ln in lines)
    assert body["last_invoice_date"] == max(ln.invoice_date for ln in lines)
    served = [
        (
            x["event_id"],
            x["stock_code"],
            x["quantity"],
            Decimal(x["unit_price"]),
            Decimal(x["line_total"]),
            x["invoice_date"],
        )
        for x in body["lines"]
    ]
    assert served == [
        (ln.event_id, ln.stock_code, ln.quantity, ln.unit_price, ln.line_total, ln.invoice_date)
        for ln in lines
    ]


def test_cancelled_invoice_is_negative(local_cloud, e2e_run):
    body = _get(local_cloud, "/invoices/C536548").json()
    assert body["is_cancelled"] is True and body["quantity"] < 0 and Decimal(body["revenue"]) < 0


def test_an_invoice_spanning_two_timestamps(local_cloud, e2e_run):
    body = _get(local_cloud, "/invoices/536591").json()
    assert body["first_invoice_date"] < body["last_invoice_date"]


def _customer_expectation(source, customer_id: str) -> dict:
    invoices = defaultdict(list)
    for ln in source.values():
        if ln.customer_id == customer_id:
            invoices[ln.invoice_no].append(ln)
    summaries = {}
    for no, lines in invoices.items():
        summaries[no] = {
            "date": min(ln.invoice_date for ln in lines),
            "country": lines[0].country,
            "line_count": len(lines),
            "quantity": sum(ln.quantity for ln in lines),
            "revenue": sum(ln.line_total for ln in lines),
            "cancelled": no.startswith("C"),
        }
    bought = [s["date"] for no, s in summaries.items() if not no.startswith("C")]
    latest = max(summaries.items(), key=lambda kv: (kv[1]["date"], kv[0]))
    return {
        "summaries": summaries,
        "view": {
            "customer_id": customer_id,
            "country": latest[1]["country"],
            "countries": sorted({s["country"] for s in summaries.values()}),
            "invoice_count": sum(1 for no in summaries if not no.startswith("C")),
            "cancellation_count": sum(1 for no in summaries if no.startswith("C")),
            "quantity": sum(s["quantity"] for s in summaries.values()),
            "first_purchase": min(bought) if bought else None,
            "last_purchase": max(bought) if bought else None,
        },
        "revenue": sum((s["revenue"] for s in summaries.values()), Decimal(0)),
    }


@pytest.mark.parametrize("customer_id", ["12370", "17850", "13047"])
def test_get_customer_returns_what_the_source_says(local_cloud, e2e_run, source, customer_id):
    expected = _customer_expectation(source, customer_id)
    response = _get(local_cloud, f"/customers/{customer_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert Decimal(body.pop("revenue")) == expected["revenue"]
    assert body == expected["view"]


def test_customer_under_two_countries(local_cloud, e2e_run):
    body = _get(local_cloud, "/customers/12370").json()
    assert body["countries"] == ["Austria", "Cyprus"]


@pytest.mark.parametrize("customer_id", ["12370", "17850"])
def test_customer_invoices_are_listed_by_date(local_cloud, e2e_run, source, customer_id):
    expected = _customer_expectation(source, customer_id)["summaries"]
    rows, token, pages = [], None, 0
    while True:  # pages of 2, to walk the `next` token too
        query = "?limit=2" + (f"&next={token}" if token else "")
        response = _get(local_cloud, f"/customers/{customer_id}/invoices{query}")
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["customer_id"] == customer_id and len(page["invoices"]) <= 2
        rows += page["invoices"]
        token, pages = page["next"], pages + 1
        if token is None or pages > 100:
            break
    assert [r["invoice_no"] for r in rows] == sorted(
        expected, key=lambda no: (expected[no]["date"], no)
    )
    for row in rows:
        want = expected[row["invoice_no"]]
        assert (
            row["date"],
            row["country"],
            row["line_count"],
            row["quantity"],
            row["cancelled"],
        ) == (
            want["date"],
            want["country"],
            want["line_count"],
            want["quantity"],
            want["cancelled"],
        )
        assert Decimal(row["revenue"]) == want["revenue"]


@pytest.mark.parametrize(
    "path", ["/invoices/999998", "/customers/99999999", "/customers/99999999/invoices"]
)
def test_unknown_ids_are_404(local_cloud, e2e_run, path):
    response = _get(local_cloud, path)
    assert response.status_code == 404
    assert "not found" in response.json()["message"]


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/invoices/53636", "invoice_no"),
        ("/invoices/X5363650", "invoice_no"),
        ("/invoices/c536379", "invoice_no"),
        ("/customers/12a70", "customer_id"),
        ("/customers/12345678901", "customer_id"),
        ("/customers/-1/invoices", "customer_id"),
    ],
)
def test_malformed_ids_are_400_naming_the_parameter(local_cloud, path, parameter):
    response = _get(local_cloud, path)
    assert response.status_code == 400, response.text
    assert parameter in response.json()["message"]


def test_bad_page_parameters_are_400(local_cloud):
    for query, name in (("?limit=0", "limit"), ("?limit=abc", "limit"), ("?next=%21%21", "next")):
        response = _get(local_cloud, f"/customers/12370/invoices{query}")
        assert response.status_code == 400 and name in response.json()["message"], query


@pytest.mark.parametrize("key", [None, "not-a-key-of-this-api-0000"])
@pytest.mark.parametrize(
    "path", ["/invoices/536365", "/customers/12370", "/customers/12370/invoices"]
)
def test_query_without_a_valid_key_is_403(local_cloud, path, key):
    response = _get(local_cloud, path, key=key)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
