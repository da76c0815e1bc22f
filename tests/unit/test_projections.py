"""The invoice / customer projections: exact, within DynamoDB's limits at any invoice size, and
convergent under at-least-once delivery (any order, any duplication, any batch split)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.customers import customer_invoices_page, customer_summaries, customer_view
from pipeline.events import canonical_decimal, parse_event
from pipeline.invoice_pages import MAX_ITEM_BYTES, assemble, item_size, paginate
from pipeline.projections import group_by_invoice, invoice_lines, invoice_view, merge_invoice
from tests.sales import sale_fields

DIGEST = "0123456789abcdef"


def sale(line: int, invoice_no: str = "536365", **fields):
    return parse_event(sale_fields(line, digest=DIGEST, invoice_no=invoice_no, **fields))


def project(batches):
    """What the projector does per batch, against in-memory tables: invoice_no -> page items,
    (customer_id, invoice_no) -> summary item."""
    invoices: dict = {}
    customers: dict = {}
    for batch in batches:
        for no, evs in group_by_invoice(batch).items():
            merged = assemble(invoices.get(no, []), evs)
            invoices[no] = paginate(merged)
            for summary in customer_summaries(merged):
                customers[(summary["customer_id"], no)] = summary
    return invoices, customers


def customer_items(customers, customer_id):
    return [item for (cid, _), item in sorted(customers.items()) if cid == customer_id]


def exact(value):
    """A form that tells 4 from 4.0 and int from Decimal, so 'equal' means 'stored identically'."""
    if isinstance(value, dict):
        return tuple(sorted((k, exact(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(exact(v) for v in value)
    return (type(value).__name__, str(value))


# --- examples -------------------------------------------------------------------------------


def test_invoice_totals_are_exact_decimals_and_span_timestamps():
    events = [
        sale(2, quantity=1, unit_price="0.1"),
        sale(3, quantity=2, unit_price="0.1", invoice_date="2010-12-01T08:27:00"),
        sale(4, quantity=-1, unit_price="0.3", description=None),
    ]
    item = merge_invoice(None, events)
    assert item["revenue"] == Decimal("0") and str(item["revenue"]) == "0"
    assert item["quantity"] == 2 and item["line_count"] == 3
    assert (item["first_invoice_date"], item["last_invoice_date"]) == (
        "2010-12-01T08:26:00",
        "2010-12-01T08:27:00",
    )
    assert item["lines"][f"{DIGEST}:4"] == [
        "85123A", None, -1, Decimal("0.3"), Decimal("-0.3"), "2010-12-01T08:26:00"
    ]


def test_duplicate_rows_with_distinct_event_ids_are_both_kept():
    item = merge_invoice(None, [sale(2), sale(3)])  # identical content, two source lines
    assert item["line_count"] == 2 and item["revenue"] == Decimal("30.6")


def test_cancellation_and_guest_sales():
    cancelled = merge_invoice(None, [sale(2, invoice_no="C536379", quantity=-1)])
    assert cancelled["is_cancelled"] is True and cancelled["revenue"] == Decimal("-2.55")
    guest = merge_invoice(None, [sale(3, invoice_no="536544", customer_id=None)])
    assert guest["customer_id"] is None
    assert customer_summaries(guest) == []
    assert customer_summaries(cancelled) == [{
        "customer_id": "17850", "invoice_no": "C536379", "date": "2010-12-01T08:26:00",
        "country": "United Kingdom", "line_count": 1, "quantity": -1, "revenue": Decimal("-2.55"),
        "cancelled": True,
    }]


def test_a_line_keeps_its_own_customer_and_country_at_no_cost_to_the_others():
    events = [sale(2), sale(3, customer_id="12345", country="EIRE"), sale(4, customer_id=None)]
    item = merge_invoice(None, events)
    assert (item["customer_id"], item["country"]) == ("12345", "EIRE")  # the smallest, order-free
    assert [len(item["lines"][f"{DIGEST}:{n}"]) for n in (2, 3, 4)] == [8, 6, 8]
    assert [(line["customer_id"], line["country"]) for line in invoice_lines(item)] == [
        ("17850", "United Kingdom"), ("12345", "EIRE"), (None, "United Kingdom")]
    # one summary per customer on the invoice, each over that customer's lines only
    assert {(s["customer_id"], s["line_count"], s["country"]) for s in customer_summaries(item)} == {
        ("17850", 1, "United Kingdom"), ("12345", 1, "EIRE")}


def test_customer_item_under_two_countries_with_totals():
    _, customers = project(
        [
            [sale(2, invoice_no="536365", invoice_date="2010-12-01T08:26:00")],
            [sale(3, invoice_no="C536400", quantity=-2, country="EIRE",
                  invoice_date="2010-12-02T09:00:00")],
            [sale(4, invoice_no="536500", country="EIRE", invoice_date="2010-12-03T10:00:00")],
        ]
    )
    view = customer_view("17850", customer_items(customers, "17850"))
    assert view == {
        "customer_id": "17850",
        "country": "EIRE",
        "countries": ["EIRE", "United Kingdom"],
        "invoice_count": 2,
        "cancellation_count": 1,
        "quantity": 10,
        "revenue": "25.5",
        "first_purchase": "2010-12-01T08:26:00",
        "last_purchase": "2010-12-03T10:00:00",
    }


def test_a_customer_without_items_has_no_view():
    assert customer_view("17850", []) is None


def test_events_of_another_invoice_are_refused():
    item = merge_invoice(None, [sale(2)])
    with pytest.raises(ValueError, match="536366"):
        merge_invoice(item, [sale(3, invoice_no="536366")])


def test_canonical_decimal_matches_dynamodb_storage():
    assert str(canonical_decimal(Decimal("4.00"))) == "4"
    assert str(canonical_decimal(Decimal("1E+2"))) == "100"
    assert str(canonical_decimal(Decimal("-0.0"))) == "0"
    assert str(canonical_decimal(Decimal("0.0010"))) == "0.001"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_canonical_decimal_refuses_what_dynamodb_cannot_store(value):
    with pytest.raises(ValueError, match=f"not a finite number: {value}"):
        canonical_decimal(Decimal(value))


def test_item_size_follows_aws_rules():
    # name 1 + string 3; name 1 + number (3 significant digits -> 2 bytes + 1); name 1 + null 1
    assert item_size({"a": "abc", "b": Decimal("1.23"), "c": None}) == 4 + 4 + 2
    # list: 3 bytes + per element 1 byte + element
    assert item_size({"l": ["ab", True]}) == 1 + 3 + (1 + 2) + (1 + 1)
    with pytest.raises(TypeError, match="float"):
        item_size({"x": 2.5})


def test_largest_invoice_fits_in_one_page_item():
    # The biggest invoice in the data has 1,114 lines; use the longest field values it has
    # (description 36 bytes, stock code 12) and wide numbers, so this is an upper bound.
    events = [
        sale(
            line,
            invoice_no="573585",
            customer_id=None,
            stock_code="BANK CHARGES",
            description="X" * 36,
            quantity=-80995,
            unit_price="-11062.06",
            invoice_date="2011-10-31T14:41:00",
        )
        for line in range(100_000_000, 100_001_114)
    ]
    (page,) = paginate(merge_invoice(None, events))
    assert page["line_count"] == 1114 and page["pages"] == 1 and "revision" not in page
    size = item_size(page)
    assert size < MAX_ITEM_BYTES // 3, f"1,114-line invoice is {size} bytes"


def huge_invoice(lines: int = 500):
    """500 lines of 255 four-byte characters: ~530 KB of lines, over DynamoDB's 400 KB item."""
    return [sale(n, invoice_no="581219", description="\U0001F600" * 255, stock_code="\u00e9" * 32)
            for n in range(2, 2 + lines)]


def test_a_huge_invoice_is_cut_into_pages_that_fit_and_reassemble_exactly():
    invoice = merge_invoice(None, huge_invoice())
    assert item_size(invoice) > MAX_ITEM_BYTES  # one item could not hold it
    pages = paginate(invoice)
    assert [p["page"] for p in pages] == ["0", "1"]
    assert all(item_size(p) <= MAX_ITEM_BYTES for p in pages)
    assert pages[0]["pages"] == 2 and pages[0]["line_count"] == 500
    assert len({p["revision"] for p in pages}) == 1
    assert sum(len(p["lines"]) for p in pages) == 500
    assert assemble(pages) == invoice
    # pages follow source order: a reader walking them sees the lines as the file has them
    assert [line["event_id"] for p in pages for line in invoice_lines(p)] == [
        line["event_id"] for line in invoice_lines(invoice)]


def test_pages_of_an_invoice_with_more_lines_still_fit_and_grow_only_at_the_end():
    small = paginate(merge_invoice(None, huge_invoice(300)))
    big = paginate(merge_invoice(None, huge_invoice(1300)))
    assert len(big) == 5 and all(item_size(p) <= MAX_ITEM_BYTES for p in big)  # ~1.4 MB of lines
    assert small[0]["lines"].keys() <= big[0]["lines"].keys()


def test_customer_invoice_pages_walk_every_invoice_once():
    _, customers = project(
        [[sale(n, invoice_no=f"5{n:05d}", invoice_date=f"2011-01-{n:02d}T10:00:00")] for n in range(2, 9)]
    )
    items = customer_items(customers, "17850")
    seen, after = [], None
    for _ in range(10):
        rows, after = customer_invoices_page(items, 3, after)
        seen += [r["invoice_no"] for r in rows]
        if after is None:
            break
    assert seen == [f"5{n:05d}" for n in range(2, 9)]


def test_invoice_view_lists_lines_in_source_order_with_exact_money():
    view = invoice_view(merge_invoice(None, [sale(11, unit_price="0.001"), sale(9)]))
    assert [line["event_id"] for line in view["lines"]] == [f"{DIGEST}:9", f"{DIGEST}:11"]
    assert view["lines"][1]["line_total"] == "0.006" and view["revenue"] == "15.306"


# --- properties -----------------------------------------------------------------------------

INVOICES = {  # invoice_no -> (customer_id, country), as consistent as in the data
    "536365": ("17850", "United Kingdom"),
    "C536379": ("17850", "United Kingdom"),
    "536366": ("17850", "EIRE"),
    "536367": ("13047", "France"),
    "536368": (None, "United Kingdom"),
}


@st.composite
def event_sets(draw):
    count = draw(st.integers(min_value=1, max_value=25))
    events = []
    for line in range(2, 2 + count):
        invoice_no = draw(st.sampled_from(sorted(INVOICES)))
        customer_id, country = INVOICES[invoice_no]
        quantity = draw(st.integers(min_value=1, max_value=50))
        events.append(
            sale(
                line,
                invoice_no=invoice_no,
                customer_id=customer_id,
                country=country,
                quantity=-quantity if invoice_no.startswith("C") else quantity,
                unit_price=draw(st.sampled_from(["0", "0.001", "0.85", "2.55", "18", "165"])),
                invoice_date=f"2010-12-0{draw(st.integers(1, 3))}T08:2{draw(st.integers(0, 9))}:00",
                description=draw(st.sampled_from([None, "MUG", "LANTERN"])),
            )
        )
    return events


@st.composite
def deliveries(draw, events):
    """At-least-once delivery: every event at least once, duplicates, any order, any batching."""
    extra = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    stream = draw(st.permutations(events + extra))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=6)))
    bounds = [0, *[c for c in cuts if c < len(stream)], len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_delivery_of_the_same_events_gives_identical_items(data):
    events = data.draw(event_sets())
    once = project([events])
    again = project(data.draw(deliveries(events)))
    assert exact(again[0]) == exact(once[0])
    assert exact(again[1]) == exact(once[1])
    assert {cid for cid, _ in once[1]} <= {"17850", "13047"}  # guest sales never make a customer


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_delivery_of_a_huge_invoice_gives_identical_pages(data):
    events = huge_invoice(data.draw(st.integers(330, 700)))  # two or three pages
    once = project([events])
    assert len(once[0]["581219"]) > 1
    again = project(data.draw(deliveries(events)))
    assert exact(again[0]) == exact(once[0])


def test_redelivering_into_read_back_items_changes_nothing():
    # Items read back from DynamoDB come as Decimal everywhere: merging again must be a no-op.
    events = [sale(2), sale(3, quantity=-1, unit_price="2.50"), sale(4, customer_id="12")]
    pages = paginate(merge_invoice(None, events))
    read_back = [_as_read_back(p) for p in pages]
    again = paginate(assemble(read_back, events))
    assert again == read_back and exact(again) == exact(pages)
    summaries = customer_summaries(assemble(read_back))
    assert summaries == [_as_read_back(s) for s in customer_summaries(assemble(pages))]


def _as_read_back(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _as_read_back(v) for k, v in value.items()}
    return [_as_read_back(v) for v in value]
