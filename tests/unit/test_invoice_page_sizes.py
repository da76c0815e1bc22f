"""The page cutter's number sizes (`pipeline.invoice_pages._number_size`, read from the number's
text for speed) equal the size of the number as DynamoDB stores it (`canonical_decimal`'s digits)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.events import canonical_decimal
from pipeline.invoice_pages import _number_size


def stored_size(value) -> int:
    digits = canonical_decimal(value).as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return (significant + 1) // 2 + 1


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.integers(min_value=-(10**45), max_value=10**45),
                 st.decimals(allow_nan=False, allow_infinity=False, places=None),
                 st.decimals(min_value=-(10**9), max_value=10**9, places=6)))
@example(0)
@example(Decimal("-0.000"))
@example(Decimal("1E+40"))
@example(Decimal("1200.00"))
@example(Decimal("0.00012"))
@example(Decimal("1234567890123456789012345678.9"))  # 29 digits: canonical_decimal rounds
@example(10**40 + 7)
def test_number_size_equals_the_stored_numbers_size(value):
    assert _number_size(value) == stored_size(value)
