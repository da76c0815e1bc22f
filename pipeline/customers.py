"""The customer projection: one small item per (customer, invoice), under the sort key invoice_no.

A customer's totals are not kept in one item: a customer may have any number of invoices, and one
item per customer would hit DynamoDB's 400 KB limit (at about 4,000 invoices) and would need a
conditional read-modify-write, since one customer's invoices arrive on several shards. Instead the
projector writes, for every invoice it merges, one summary item per customer on that invoice,
derived from that customer's lines on the invoice. The invoice's lines are all on one shard, so
each summary item has one writer and is written blindly (idempotent: the same lines give the same
item). The query API reads a customer's items with one Query and computes the totals
(`customer_view`), which reads the same bytes the single item held.

Pure domain code: items are plain dicts, as in `pipeline.projections`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .events import canonical_decimal
from .projections import Item, decimal_text, invoice_full_lines

SUMMARY_FIELDS = ("date", "country", "line_count", "quantity", "revenue", "cancelled")


def customer_summaries(invoice: Mapping[str, Any]) -> list[Item]:
    """The customer items of one logical invoice: one per customer with lines on it, summing that
    customer's lines (in the data, every line of an invoice has the invoice's customer). Guest
    lines (no customer_id) make none."""
    per_customer: dict[str, list[list[Any]]] = {}
    for line in invoice_full_lines(invoice).values():
        if line[6] is not None:
            per_customer.setdefault(line[6], []).append(line)
    return [
        {
            "customer_id": customer_id,
            "invoice_no": invoice["invoice_no"],
            "date": min(line[5] for line in lines),
            "country": min(line[7] for line in lines),
            "line_count": len(lines),
            "quantity": sum(line[2] for line in lines),
            "revenue": canonical_decimal(sum((line[4] for line in lines), Decimal(0))),
            "cancelled": bool(invoice["invoice_no"].startswith("C")),
        }
        for customer_id, lines in sorted(per_customer.items())
    ]


def _summary(item: Mapping[str, Any]) -> Item:
    """A summary item as read back (numbers as Decimal) in the form written."""
    return {
        "invoice_no": item["invoice_no"],
        "date": item["date"],
        "country": item["country"],
        "line_count": int(item["line_count"]),
        "quantity": int(item["quantity"]),
        "revenue": canonical_decimal(item["revenue"]),
        "cancelled": bool(item["cancelled"]),
    }


def customer_view(customer_id: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The customer's totals over its summary items (None: the customer has none)."""
    invoices = [_summary(i) for i in items]
    if not invoices:
        return None
    purchases = [s["date"] for s in invoices if not s["cancelled"]]
    latest = max(invoices, key=lambda s: (s["date"], s["invoice_no"]))
    return {
        "customer_id": customer_id,
        "country": latest["country"],
        "countries": sorted({s["country"] for s in invoices}),
        "invoice_count": sum(1 for s in invoices if not s["cancelled"]),
        "cancellation_count": sum(1 for s in invoices if s["cancelled"]),
        "quantity": sum(s["quantity"] for s in invoices),
        "revenue": decimal_text(sum((s["revenue"] for s in invoices), Decimal(0))),
        "first_purchase": min(purchases) if purchases else None,
        "last_purchase": max(purchases) if purchases else None,
    }


def customer_invoices_page(
    items: Iterable[Mapping[str, Any]], limit: int, after: tuple[str, str] | None = None
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    """One page of a customer's invoice summaries in (date, invoice_no) order, and the position
    of its last entry when more follow (the caller encodes it as the `next` token)."""
    ordered = sorted((_summary(i) for i in items), key=lambda s: (s["date"], s["invoice_no"]))
    if after is not None:
        ordered = [s for s in ordered if (s["date"], s["invoice_no"]) > after]
    page = ordered[:limit]
    rows = [{**s, "revenue": decimal_text(s["revenue"])} for s in page]
    more = len(ordered) > limit
    return rows, ((page[-1]["date"], page[-1]["invoice_no"]) if more else None)
