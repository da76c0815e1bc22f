"""The sale event model: wire format, derived fields, the rules and the API's draft-4 schema."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api_models import REQUEST_MODELS
from pipeline.events import (
    MAX_BATCH,
    InvalidEvent,
    SaleEvent,
    event_id,
    events_of_body,
    parse_event,
)
from tests.sales import sale_fields

WIRE = sale_fields()
SCHEMA = REQUEST_MODELS["SaleEventBatch"]


def test_wire_round_trip_and_record_bytes():
    event = parse_event(WIRE)
    assert event.wire() == WIRE
    assert event.line_total == Decimal("15.30")
    assert event.event_date == "2010-12-01"
    assert event.line_number == 2
    record = event.to_record_bytes()
    assert record.endswith(b"\n") and record.count(b"\n") == 1
    decoded = json.loads(record)
    assert list(decoded) == [*WIRE, "line_total", "is_cancellation"]
    assert decoded["line_total"] == "15.30" and decoded["is_cancellation"] is False
    assert SaleEvent.from_record(record) == event


def test_cancellation_and_nulls():
    event = parse_event({**WIRE, "invoice_no": "C536379", "quantity": -1, "description": None,
                         "customer_id": None})
    assert event.is_cancellation
    assert event.line_total == Decimal("-2.55")
    assert event.record()["description"] is None and event.record()["customer_id"] is None


def test_pound_sign_is_utf8_in_the_record():
    event = parse_event({**WIRE, "description": "Dotcomgiftshop Gift Voucher \u00a340.00"})
    assert "\u00a340".encode("utf-8") in event.to_record_bytes()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("quantity", "6", "integer"),
        ("quantity", 6.0, "integer"),
        ("quantity", True, "integer"),
        ("unit_price", 2.55, "decimal string"),
        ("unit_price", "2.5e1", "decimal string"),
        ("unit_price", "02.55", "decimal string"),
        ("invoice_date", "12/1/2010 8:26", "YYYY-MM-DDTHH:MM:SS"),
        ("invoice_date", "2010-13-01T08:26:00", "real date and time"),
        ("customer_id", "17850.0", "pattern"),
        ("customer_id", "", "pattern"),
        ("description", "", "at least 1"),
        ("invoice_no", "X53636", "pattern"),
        ("event_id", "d07aec99:2", "pattern"),
        ("event_id", "d07aec9960083af2:0", "pattern"),
        ("country", "Line\nbreak", "pattern"),
    ],
)
def test_bad_field_is_named(field, value, words):
    with pytest.raises(InvalidEvent) as err:
        parse_event({**WIRE, field: value})
    assert any(p.startswith(field) and words in p for p in err.value.problems), err.value.problems
    # The gateway's schema refuses the same value.
    assert not jsonschema.Draft4Validator(SCHEMA).is_valid({**WIRE, field: value})


def test_missing_and_unknown_fields_are_refused():
    missing = {k: v for k, v in WIRE.items() if k != "description"}
    with pytest.raises(InvalidEvent, match="description: Field required"):
        parse_event(missing)
    with pytest.raises(InvalidEvent, match="line_total: Extra inputs"):
        parse_event({**WIRE, "line_total": "15.30"})


def test_record_with_inconsistent_derived_fields_is_refused():
    record = parse_event(WIRE).record()
    with pytest.raises(InvalidEvent, match="line_total"):
        SaleEvent.from_record({**record, "line_total": "15.3"})
    with pytest.raises(InvalidEvent, match="is_cancellation"):
        SaleEvent.from_record({**record, "is_cancellation": True})


def test_body_shapes():
    assert events_of_body(WIRE) == [WIRE]
    assert events_of_body({"events": [WIRE, WIRE]}) == [WIRE, WIRE]
    for bad, words in [
        ({"events": []}, "1..500"),
        ({"events": [WIRE] * (MAX_BATCH + 1)}, "got 501"),
        ({"events": WIRE}, "array"),
        ({"events": [WIRE], "more": 1}, "unexpected"),
        ([WIRE], "event object"),
    ]:
        with pytest.raises(InvalidEvent, match=words):
            events_of_body(bad)


def test_event_id_is_stable():
    assert event_id("d07aec9960083af2339975a3f9d3b26313b342dc", 541910) == "d07aec9960083af2:541910"


# --- the API model is draft 4 and agrees with the pydantic model ----------------------------

def test_schema_is_draft4_without_2020_keywords():
    text = json.dumps(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert "$defs" not in text and '"const"' not in text and '"prefixItems"' not in text
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    event = SCHEMA["definitions"]["SaleEvent"]
    assert event["properties"]["description"]["type"] == ["string", "null"]
    assert event["additionalProperties"] is False


def test_schema_accepts_one_event_or_a_batch():
    validator = jsonschema.Draft4Validator(SCHEMA)
    assert validator.is_valid(WIRE)
    assert validator.is_valid({"events": [WIRE] * MAX_BATCH})
    assert not validator.is_valid({"events": [WIRE] * (MAX_BATCH + 1)})
    assert not validator.is_valid({"events": []})
    assert not validator.is_valid({**WIRE, "extra": 1})
    assert not validator.is_valid({"events": [{**WIRE, "quantity": "6"}]})


# --- properties ------------------------------------------------------------------------------

_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
                min_size=1, max_size=40)


@st.composite
def wire_events(draw):
    places = draw(st.integers(0, 6))
    price = draw(st.decimals(min_value=-10**6, max_value=10**6, places=places,
                             allow_nan=False, allow_infinity=False))
    price_text = format(price, "f")
    if price_text.startswith("-0") and price == 0:
        price_text = price_text[1:]
    return {
        "event_id": f"{draw(st.text('0123456789abcdef', min_size=16, max_size=16))}:"
                    f"{draw(st.integers(1, 999_999_999))}",
        "invoice_no": draw(st.from_regex(r"\A[AC]?[0-9]{6}\Z")),
        "stock_code": draw(_text.filter(lambda t: len(t) <= 32)),
        "description": draw(st.none() | _text),
        "quantity": draw(st.integers(-999_999_999, 999_999_999)),
        "invoice_date": draw(st.datetimes(min_value=datetime(2000, 1, 1),
                                          max_value=datetime(2099, 12, 31, 23, 59, 59)))
        .replace(microsecond=0).isoformat(),
        "unit_price": price_text,
        "customer_id": draw(st.none() | st.from_regex(r"\A[0-9]{1,10}\Z")),
        "country": draw(_text),
    }


@settings(max_examples=200, deadline=None)
@given(wire_events())
def test_any_valid_event_round_trips(wire):
    event = parse_event(wire)
    assert event.wire() == wire
    assert jsonschema.Draft4Validator(SCHEMA).is_valid(wire)
    assert SaleEvent.from_record(event.to_record_bytes()) == event
    assert parse_event(json.loads(json.dumps(wire))) == event


@settings(max_examples=200, deadline=None)
@given(wire_events())
def test_line_total_is_exact(wire):
    event = parse_event(wire)
    total = event.line_total
    # Exact: dividing back gives the price, and no digits were rounded away.
    assert Decimal(event.record()["line_total"]) == total
    if event.quantity:
        assert total / event.quantity == event.unit_price
    assert total.as_tuple().exponent == Decimal(wire["unit_price"]).as_tuple().exponent
