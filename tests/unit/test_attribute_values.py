"""The projector's attribute-value conversion gives exactly boto3's TypeSerializer/TypeDeserializer
output (or the same error), for any nesting of the types items hold and for the ones they do not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.handlers.attribute_values import from_attribute, from_item, to_attribute, to_item

SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.decimals(min_value=-(10**6), max_value=10**6, places=6),
    st.floats(allow_nan=False), st.binary(max_size=4),
    st.frozensets(st.text(max_size=3), min_size=1, max_size=3).map(set),
    st.frozensets(st.integers(-100, 100), min_size=1, max_size=3).map(set),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)


def outcome(fn, value):
    try:
        return "ok", fn(value)
    except Exception as exc:  # noqa: BLE001 - the same error as boto3's is part of the contract
        return "error", type(exc)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_serialize_matches_boto3(value):
    assert outcome(to_attribute, value) == outcome(TypeSerializer().serialize, value)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_deserialize_matches_boto3(value):
    ok, attribute = outcome(TypeSerializer().serialize, value)
    if ok != "ok":
        return
    mine, theirs = outcome(from_attribute, attribute), outcome(TypeDeserializer().deserialize, attribute)
    assert repr(mine) == repr(theirs)  # repr: same types too (Decimal, Binary), and NaN equals itself


def test_an_invoice_item_round_trips_as_boto3_writes_it():
    item = {"invoice_no": "536365", "page": "0", "pages": 1, "customer_id": None, "cancelled": False,
            "lines": {"ab:2": ["85123A", "WHITE", 6, Decimal("2.55"), Decimal("15.30"), "2010-12-01T08:26:00",
                               "17850", "United Kingdom"]}}
    raw = to_item(item)
    assert raw == {k: TypeSerializer().serialize(v) for k, v in item.items()}
    assert from_item(raw) == {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


@pytest.mark.parametrize("value", [{}, {"S": "a", "N": "1"}, {"B": b"x"}, {"XX": 1}, {"N": "1" * 40}, {"N": "1.50"}])
def test_unusual_attribute_shapes_behave_as_boto3(value):
    assert outcome(from_attribute, value) == outcome(TypeDeserializer().deserialize, value)


def test_binary_and_sets_are_boto3s():
    assert to_attribute(Binary(b"x")) == {"B": Binary(b"x")}
    assert to_attribute({"a", "b"})["SS"] and to_attribute({1})["NS"] == ["1"]
