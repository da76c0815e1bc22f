"""The sale the tests build on: the dataset's first line (invoice 536365), as the API takes it."""

from __future__ import annotations

from typing import Any

FIRST_SALE: dict[str, Any] = {
    "event_id": "d07aec9960083af2:2",
    "invoice_no": "536365",
    "stock_code": "85123A",
    "description": "WHITE HANGING HEART T-LIGHT HOLDER",
    "quantity": 6,
    "invoice_date": "2010-12-01T08:26:00",
    "unit_price": "2.55",
    "customer_id": "17850",
    "country": "United Kingdom",
}


def sale_fields(line: int | None = None, *, digest: str = "d07aec9960083af2", **changes: Any) -> dict[str, Any]:
    """A copy of FIRST_SALE with `changes`; `line` gives it the event id `<digest>:<line>`."""
    fields = dict(FIRST_SALE)
    if line is not None:
        fields["event_id"] = f"{digest}:{line}"
    fields.update(changes)
    return fields
