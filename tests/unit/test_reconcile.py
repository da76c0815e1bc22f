"""Reconciliation arithmetic: figures, duplicates counted once, comparison, table and report."""

from __future__ import annotations

import json
from decimal import Decimal

from pipeline.client.sinks import ArchiveReader, Scope, _plain
from pipeline.events import parse_event
from pipeline.reconcile import FigureBuilder, Figures, compare, figures_of, report, table


def sale(line: int, invoice_no: str = "536365", customer_id: str | None = "17850", quantity: int = 6,
         unit_price: str = "2.55"):
    return parse_event({
        "event_id": f"d07aec9960083af2:{line}", "invoice_no": invoice_no, "stock_code": "85123A",
        "description": None, "quantity": quantity, "invoice_date": "2010-12-01T08:26:00",
        "unit_price": unit_price, "customer_id": customer_id, "country": "United Kingdom",
    })


EVENTS = [
    sale(2),
    sale(3),                                   # exact duplicate content, separate line
    sale(4, "C536379", quantity=-1, unit_price="27.5"),
    sale(5, "536366", customer_id=None, unit_price="0.001"),
    sale(6, "A563186", customer_id=None, quantity=1, unit_price="-11062.06"),
]
EXPECTED = Figures(lines=5, invoices=4, customers=1, quantity=18, revenue=Decimal("-11058.954"),
                   cancellations=1)


def test_figures_are_exact():
    assert figures_of(EVENTS) == EXPECTED


def test_redelivered_line_counts_once():
    builder = FigureBuilder()
    for event in EVENTS + EVENTS[:2]:
        builder.add_record(json.loads(event.to_record_bytes()))
    assert builder.figures() == EXPECTED and builder.duplicates == 2


def test_compare_names_each_difference():
    short = Figures(4, 4, 1, 6, Decimal("-11061.465"), 1)
    mismatches = compare(EXPECTED, {"dynamodb": EXPECTED, "s3 archive": short, "warehouse": None})
    assert [(m.sink, m.figure) for m in mismatches] == [
        ("s3 archive", "lines"), ("s3 archive", "quantity"), ("s3 archive", "revenue")]
    assert str(mismatches[0]) == "s3 archive: lines is 4, source has 5"


def test_decimal_equality_ignores_trailing_zeros_and_table_marks_mismatch():
    warehouse = Figures(5, 4, 1, 18, Decimal("-11058.954000"), 1)
    assert compare(EXPECTED, {"warehouse": warehouse}) == []
    text = table(EXPECTED, {"dynamodb": EXPECTED, "archive": Figures(4, 4, 1, 18, EXPECTED.revenue, 1),
                            "batch": None})
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}
    assert rows["lines"] == ["5", "5", "4", "!", "n/a"]
    assert rows["revenue"] == ["-11058.954", "-11058.954", "-11058.954", "n/a"]


def test_report_document():
    doc = report(EXPECTED, {"dynamodb": EXPECTED, "warehouse batch": None}, stack="embedded")
    assert doc["ok"] is True and doc["source"]["revenue"] == "-11058.954"
    assert doc["sinks"]["warehouse batch"] is None and doc["stack"] == "embedded"
    bad = report(EXPECTED, {"dynamodb": Figures()})
    assert bad["ok"] is False and {"sink": "dynamodb", "figure": "lines", "expected": "5", "actual": "0"} in bad["mismatches"]


def test_scope_limits_sink_figures_to_the_replayed_lines():
    scope = Scope("d07aec9960083af2", 3, 5)
    assert "d07aec9960083af2:3" in scope and "d07aec9960083af2:5" in scope
    assert "d07aec9960083af2:6" not in scope and "0000000000000000:3" not in scope
    reader = ArchiveReader(scope, "bucket", None, "us-east-1")
    import gzip

    reader._add_object(gzip.compress(b"".join(e.to_record_bytes() for e in EVENTS + EVENTS[1:2])))
    assert reader.builder.figures() == figures_of(EVENTS[1:4]) and reader.lines == 4


def test_plain_decimal():
    assert str(_plain(Decimal("9747747.934000"))) == "9747747.934"
    assert str(_plain(Decimal("1000.000000"))) == "1000"


def test_an_id_seen_in_two_versions_is_a_conflict_counted_once_and_a_mismatch():
    builder = FigureBuilder()
    records = [json.loads(e.to_record_bytes()) for e in EVENTS]
    for record in records + records:  # every line delivered twice: duplicates, no conflict
        builder.add_record(record)
    # "2.550" is "2.55": the same version in another notation
    builder.add_record({**records[0], "unit_price": "2.550", "line_total": "15.300"})
    assert builder.figures().conflicts == 0
    other = json.loads(sale(2, quantity=7).to_record_bytes())
    builder.add_record(other)
    builder.add_record(other)
    figures = builder.figures()
    assert figures.conflicts == 1 and figures.lines == 5 and figures.quantity == EXPECTED.quantity
    assert [(m.sink, m.figure) for m in compare(EXPECTED, {"s3 archive": figures})] == [
        ("s3 archive", "conflicts")]
    assert "conflicts" in table(EXPECTED, {"s3 archive": figures}).splitlines()[-1]
