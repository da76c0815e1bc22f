"""Reading the Online Retail CSV: latin-1, CRLF, the traps, bad files and line numbers."""

from __future__ import annotations

import gzip
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline.reconcile import Figures, figures_of
from pipeline.source import RowError, SourceError, SourceFile, read_events

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "ecommerce-sample.csv.gz"
FULL = REPO.parent / "shared" / "data" / "ecommerce-data.csv.gz"
HEADER = b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"


def write(tmp_path: Path, body: bytes, name: str = "data.csv", header: bytes = HEADER) -> SourceFile:
    path = tmp_path / name
    data = header + body
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return SourceFile.open(path)


def test_traps_are_read_exactly(tmp_path):
    body = (
        b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\r\n"
        b"C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\r\n"
        b"539492,gift_0001_40,Dotcomgiftshop Gift Voucher \xa340.00,1,12/20/2010 10:14,34.04,,United Kingdom\r\n"
        b"536414,22139,,56,12/1/2010 11:52,0,,United Kingdom\r\n"
        b'536477,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,12/1/2010 12:27,2.1,16210,United Kingdom\r\n'
        b"A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom\r\n"
        b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\r\n"
    )
    source = write(tmp_path, body)
    events = list(read_events(source))
    prefix = hashlib.sha256(HEADER + body).hexdigest()[:16]
    assert [e.event_id for e in events] == [f"{prefix}:{n}" for n in range(2, 9)]
    first, cancel, voucher, nodesc, quoted, adjust, dup = events
    assert first.invoice_date.isoformat() == "2010-12-01T08:26:00"
    assert cancel.is_cancellation and cancel.line_total == Decimal("-27.5")
    assert voucher.description == "Dotcomgiftshop Gift Voucher \u00a340.00" and voucher.customer_id is None
    assert nodesc.description is None and nodesc.unit_price == 0
    assert quoted.description == 'RECORD FRAME 7" SINGLE SIZE '  # trailing space kept
    assert adjust.unit_price == Decimal("-11062.06") and not adjust.is_cancellation
    # An exact duplicate row is a separate sale: same content, its own id.
    assert dup.wire() | {"event_id": ""} == first.wire() | {"event_id": ""}
    assert dup.event_id != first.event_id


def test_gzip_and_plain_give_the_same_ids(tmp_path):
    body = b"536365,85123A,X,6,12/1/2010 8:26,2.55,17850,United Kingdom\r\n"
    plain = list(read_events(write(tmp_path, body, "a.csv")))
    packed = list(read_events(write(tmp_path, body, "a.csv.gz")))
    assert plain == packed


def test_skip_and_limit(tmp_path):
    rows = b"".join(b"5363%02d,A,X,1,12/1/2010 8:26,1,,UK\r\n" % i for i in range(10))
    events = list(read_events(write(tmp_path, rows), skip=3, limit=4))
    assert [e.line_number for e in events] == [5, 6, 7, 8]


def test_wrong_header_names_expected_and_actual(tmp_path):
    source = write(tmp_path, b"", header=b"InvoiceNo,StockCode,Description,Qty,InvoiceDate,UnitPrice,CustomerID,Country\r\n")
    with pytest.raises(SourceError) as err:
        list(read_events(source))
    message = str(err.value)
    assert "line 1: wrong header" in message
    assert "expected: InvoiceNo,StockCode,Description,Quantity," in message
    assert "actual:   InvoiceNo,StockCode,Description,Qty," in message


def test_empty_file(tmp_path):
    with pytest.raises(SourceError, match="empty file"):
        list(read_events(write(tmp_path, b"", header=b"")))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        SourceFile.open(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xef\xbb\xbf" + HEADER, "UTF-8 byte-order mark"),
        ("InvoiceNo,StockCode\r\n".encode("utf-16"), "UTF-16"),
        (HEADER + "536365,X,Gift Voucher \u00a340.00,1,12/1/2010 8:26,1,,UK\r\n".encode("utf-8"),
         "line 2: non-ASCII bytes form UTF-8"),
        (HEADER + b"\x00\x01\x02binary\r\n", "line 2: contains a NUL byte"),
    ],
)
def test_files_that_are_not_latin1_csv_are_refused(tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=words):
        list(read_events(SourceFile.open(path)))


BAD_ROWS = (
    b"536365,A,X,6,12/1/2010 8:26,2.55,17850,UK\r\n"          # line 2 ok
    b"536366,A,X,six,12/1/2010 8:26,2.55,17850,UK\r\n"        # line 3 quantity
    b"536367,A,X,6,2010-12-01 08:26,2.55,17850,UK\r\n"        # line 4 date format
    b"536368,A,X,6,12/1/2010 8:26,2.55\r\n"                   # line 5 too few fields
    b"536369,A,X,6,12/1/2010 8:26,1e3,17850,UK\r\n"           # line 6 price
    b"536370,A,X,6,2/30/2011 8:26,2.55,17850,UK\r\n"          # line 7 no such day
    b"536371,A,X,6,12/1/2010 8:26,2.55,17850.0,UK\r\n"        # line 8 customer id
    b"536372,A,X,6,12/1/2010 8:26,2.55,17850,UK\r\n"          # line 9 ok
)


def test_bad_row_raises_with_its_line_number(tmp_path):
    with pytest.raises(RowError) as err:
        list(read_events(write(tmp_path, BAD_ROWS)))
    assert err.value.line_number == 3
    assert "line 3: Quantity 'six' is not a whole number" in str(err.value)


def test_report_and_continue(tmp_path):
    errors: list[RowError] = []
    events = list(read_events(write(tmp_path, BAD_ROWS), on_error=errors.append))
    assert [e.line_number for e in events] == [2, 9]
    assert [e.line_number for e in errors] == [3, 4, 5, 6, 7, 8]
    messages = [str(e) for e in errors]
    assert "M/D/YYYY H:MM" in messages[1]
    assert "expected 8 fields, got 6" in messages[2]
    assert "unit_price" in messages[3]
    assert "day is out of range" in messages[4]
    assert "customer_id" in messages[5]


def test_blank_lines_carry_no_sale_but_count_as_lines(tmp_path):
    body = b"536365,A,X,1,12/1/2010 8:26,1,,UK\r\n\r\n536366,A,X,1,12/1/2010 8:26,1,,UK\r\n"
    assert [e.line_number for e in read_events(write(tmp_path, body))] == [2, 4]


def test_sample_holds_every_trap():
    events = list(read_events(SourceFile.open(SAMPLE)))
    assert figures_of(events) == Figures(
        lines=3933, invoices=137, customers=90, quantity=27038,
        revenue=Decimal("47832.942"), cancellations=30,
    )
    assert any(e.invoice_no.startswith("A") for e in events)
    assert any(e.description is None for e in events)
    assert any(e.description and "\u00a3" in e.description for e in events)
    assert any(e.unit_price == 0 for e in events)
    assert {"POST", "M", "D", "DOT", "BANK CHARGES", "AMAZONFEE"} <= {e.stock_code for e in events}
    contents = [tuple(e.wire().values())[1:] for e in events]
    assert len(set(contents)) < len(contents)  # exact duplicates, kept
    countries = {e.country for e in events if e.customer_id == "12370"}
    assert len(countries) == 2


@pytest.mark.slow
# Runs in CI (the dataset is beside the clone there); a clone without ../shared skips it.
@pytest.mark.skipif(not FULL.exists(), reason="the full dataset is not present at ../shared/data/")
def test_full_file_figures():
    source = SourceFile.open(FULL)
    assert source.digest == "d07aec9960083af2339975a3f9d3b26313b342dcd9f86cce0b919b1cde639a44"
    assert figures_of(read_events(source)) == Figures(
        lines=541909, invoices=25900, customers=4372, quantity=5176450,
        revenue=Decimal("9747747.934"), cancellations=9288,
    )
