"""The Redshift Serverless billing model (pipeline.redshift_billing) and the `make cost` report."""

from __future__ import annotations

import pytest

from emulation.redshift.cost_report import render, report
from pipeline import redshift_billing


def test_a_short_statement_is_billed_the_60_second_minimum():
    assert redshift_billing.billed_seconds([(0.0, 2.0)]) == 60.0
    assert redshift_billing.billed_seconds([(0.0, 95.5)]) == 95.5


def test_overlapping_windows_count_once_and_idle_gaps_are_free():
    # two COPYs 30 s apart share one active minute; a third after an idle gap bills again
    assert redshift_billing.billed_seconds([(0.0, 1.0), (30.0, 1.0), (500.0, 1.0)]) == 90.0 + 60.0


def test_charge_at_8_rpu_is_3_dollars_per_active_hour():
    usage = redshift_billing.usage([(0.0, 3600.0)])
    assert usage.rpu_hours == 8.0
    assert usage.charge == pytest.approx(3.0)


def test_rpu_must_be_a_valid_base_capacity():
    with pytest.raises(ValueError, match="multiple of 8"):
        redshift_billing.usage([], rpu=12)


def test_row_by_row_bills_the_serial_insert_time_or_the_span():
    assert redshift_billing.row_by_row(100_000, span_s=600, seconds_per_insert=0.05).billed_seconds == 5000 + 60
    assert redshift_billing.row_by_row(1_000, span_s=600, seconds_per_insert=0.05).billed_seconds == 600 + 60
    assert redshift_billing.row_by_row(0, span_s=600).charge == 0.0


def test_firehose_copies_follow_whichever_buffer_limit_comes_first():
    # 1,000 events/s x 60 s = 60,000 per buffer by time; 64 MiB / 300 B = 223,696 by size
    assert redshift_billing.firehose_copies(100_000, 300, 1000, 64, 60) == 2
    # fast producer: size fills first
    assert redshift_billing.firehose_copies(1_000_000, 300, 100_000, 64, 900) == 5
    assert redshift_billing.firehose_copies(0, 300, 1000, 64, 60) == 0
    with pytest.raises(ValueError):
        redshift_billing.firehose_copies(10, 0, 1000, 64, 60)


def test_report_compares_the_log_with_row_by_row():
    log = [
        {"start": 0.0, "duration_s": 1.5, "kind": "COPY", "rows": 60_000, "label": "firehose:x", "succeeded": True},
        {"start": 61.0, "duration_s": 1.0, "kind": "COPY", "rows": 40_000, "label": "firehose:x", "succeeded": True},
        {"start": 70.0, "duration_s": 0.1, "kind": "COPY", "rows": 0, "label": "firehose:x", "succeeded": False},
    ]
    r = report(log, 8, 0.375, 0.05)
    assert r["events_loaded_by_copy"] == 100_000 and r["rows_per_copy"] == 50_000
    assert r["billed_seconds"] == pytest.approx(129.0)  # [0, 60] + [61, 121] merged with [70, 130]
    assert r["row_by_row"]["billed_seconds"] == pytest.approx(5060.0)
    assert r["row_by_row"]["charge_usd"] > 30 * r["charge_usd"]
    text = render(r)
    assert "row-by-row INSERTs" in text and "firehose:x" in text
