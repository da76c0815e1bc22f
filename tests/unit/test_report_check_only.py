"""`make e2e CHECK=1` (`--check-only`) replays nothing: its run report must still be written."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.client.report_html import write_run_report
from pipeline.client.run_record import RunRecord


def test_a_check_only_run_writes_its_report_without_a_replay(tmp_path):
    figures = {"lines": 3, "invoices": 1, "customers": 1, "quantity": 7, "revenue": "12.50",
               "cancellations": 0, "conflicts": 0}
    result = {"ok": True, "data": "sample.csv", "rows": "all", "stack": "embedded", "replay": None,
              "batch_job": None, "mismatches": [], "source": figures, "sinks": {"dynamodb": figures}}
    record = RunRecord(None)
    record.add_point("dynamodb (e2e reads)", 541909)
    endpoints = SimpleNamespace(warehouse_dsn=None)

    path = write_run_report(tmp_path / "report.html", result, record, None, scope=None, endpoints=endpoints)

    page = path.read_text()
    assert "every sink reconciles" in page
    assert "Rejected events (0)" in page
    assert "dynamodb (e2e reads)" in page and "client (accepted)" not in page
