"""invoice_date: one range, one exact pattern; the published schema and the validator agree on every
string, and dates are written zero-padded whatever the platform's strftime does."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emulation.apigateway.validation import ModelValidator
from pipeline.api_models import REQUEST_MODELS
from pipeline.dates import FIRST, INVOICE_DATE_PATTERN, LAST, format_invoice_date, is_invoice_date
from pipeline.events import InvalidEvent, parse_event

WIRE = {
    "event_id": "d07aec9960083af2:2", "invoice_no": "536365", "stock_code": "85123A",
    "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": 6,
    "invoice_date": "2010-12-01T08:26:00", "unit_price": "2.55", "customer_id": "17850",
    "country": "United Kingdom",
}
SCHEMA = REQUEST_MODELS["SaleEventBatch"]
GATEWAY = ModelValidator(REQUEST_MODELS)  # the local API Gateway's own body validation
DRAFT4 = jsonschema.Draft4Validator(SCHEMA)


def published_accepts(text: str) -> bool:
    """Both draft-4 validators the project runs (the gateway's compiled one and jsonschema) on an
    event that differs from a valid one in invoice_date only; they must not disagree either."""
    body = {**WIRE, "invoice_date": text}
    _, problem = GATEWAY.check("SaleEventBatch", "application/json", json.dumps(body).encode())
    assert (problem is None) == DRAFT4.is_valid(body), text
    return problem is None


def model_accepts(text: str) -> bool:
    try:
        parse_event({**WIRE, "invoice_date": text})
    except InvalidEvent:
        return False
    return True


def test_the_published_pattern_is_the_validators_own():
    event = SCHEMA["definitions"]["SaleEvent"]["properties"]["invoice_date"]
    assert (event["type"], event["pattern"]) == ("string", INVOICE_DATE_PATTERN)


@pytest.mark.parametrize("text", [
    "0001-01-01T00:00:00", "0010-06-15T12:00:00", "0999-12-31T23:59:59",  # lost or corrupted before
    "0000-00-00T00:00:00",  # matched the old pattern, refused by the old validator
    "1999-12-31T23:59:59", "2100-01-01T00:00:00",  # just outside the range
    "2011-02-29T00:00:00", "2100-02-29T00:00:00", "2010-04-31T00:00:00", "2010-12-01T24:00:00",
    "2010-12-01T08:26:60", "2010-12-01T08:26:00\n", "2010-12-01 08:26:00", "10-06-15T00:00:00",
])
def test_dates_outside_the_rule_are_refused_by_schema_and_model_alike(text):
    assert not published_accepts(text)
    with pytest.raises(InvalidEvent) as err:
        parse_event({**WIRE, "invoice_date": text})
    assert any(p.startswith("invoice_date") and "2000-01-01T00:00:00..2099-12-31T23:59:59" in p
               for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("text", [
    "2000-01-01T00:00:00", "2099-12-31T23:59:59", "2000-02-29T12:00:00", "2096-02-29T00:00:00",
    "2010-12-01T08:26:00", "2011-12-09T12:50:00",
])
def test_dates_inside_the_range_are_accepted_and_written_back_unchanged(text):
    assert published_accepts(text)
    assert parse_event({**WIRE, "invoice_date": text}).wire()["invoice_date"] == text


def test_a_python_datetime_outside_the_range_is_refused_too():
    # The replay client builds events from datetimes (pipeline.source), not from strings.
    for when in (datetime(10, 6, 15), datetime(1999, 12, 31, 23, 59, 59), datetime(2100, 1, 1)):
        with pytest.raises(InvalidEvent, match="outside 2000-01-01T00:00:00..2099-12-31T23:59:59"):
            parse_event({**WIRE, "invoice_date": when})


def test_every_calendar_cell_of_the_range_exactly():
    """Every year, month 00-13 and day 00-32 of 2000-2099: the pattern accepts exactly the dates
    the calendar has (46,200 strings, 36,525 of them real)."""
    real = set()
    day = date(2000, 1, 1)
    while day <= date(2099, 12, 31):
        real.add(day.isoformat())
        day += timedelta(days=1)
    assert len(real) == 36_525
    for year in range(2000, 2100):
        for month in range(14):
            for dom in range(33):
                text = f"{year}-{month:02d}-{dom:02d}"
                assert is_invoice_date(text + "T00:00:00") == (text in real), text


def test_dates_are_written_zero_padded_and_range_checked():
    assert format_invoice_date(FIRST) == "2000-01-01T00:00:00"
    assert format_invoice_date(LAST) == "2099-12-31T23:59:59"
    with pytest.raises(ValueError, match="outside"):
        format_invoice_date(datetime(10, 6, 15))


# Strings shaped like dates (every digit position free, years 0000-9999) and arbitrary text around
# and instead of them: where the old pattern and the validator parted ways.
_digits = st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
_real = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0).isoformat())
_near = st.datetimes(min_value=datetime(1999, 12, 31), max_value=datetime(2100, 1, 2)).map(
    lambda d: d.replace(microsecond=0).isoformat())
_noise = st.text(st.characters(codec="utf-8"), max_size=3)
_candidates = st.one_of(
    _digits, _real, _near, st.text(max_size=24),
    st.tuples(_noise, _near, _noise).map("".join),
)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(_candidates)
@example("0000-00-00T00:00:00")
@example("2010-12-01T08:26:00\n")
@example("2000-02-29T00:00:00")
def test_published_pattern_accepts_exactly_what_the_validator_accepts(text):
    assert published_accepts(text) == model_accepts(text), text
