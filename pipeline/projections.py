"""The DynamoDB projections of the sale stream: one `invoice` item per invoice, one `customer` item
per known customer. Pure domain code (no boto3); items are plain dicts of str / int / Decimal /
bool / None / list / dict, which is what boto3's DynamoDB (de)serializer maps to and from.

Merging is idempotent, commutative and associative, so a stream delivered at least once, split
into batches anywhere, converges to the same items (the argument is in docs/tables.md):
  - an invoice's lines are a map keyed by `event_id`; a merge is a union, and every other field
    of the item is recomputed from the lines (totals, dates) or is a min / or over what was seen;
  - a customer's invoice summaries are a map keyed by `invoice_no`, each derived from the whole
    merged invoice; two summaries of one invoice keep the one with more lines (invoice items only
    grow), and every total is recomputed from the map.
Numbers are exact `Decimal` / `int` in canonical form (no exponent, no trailing zeros, no -0), the
form DynamoDB itself stores, so a read-back item compares equal to the one written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .dates import format_invoice_date
from .events import SaleEvent, canonical_decimal

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit."""

# A line is stored as a positional list (no attribute names per line) to keep big invoices small.
LINE_FIELDS = ("stock_code", "description", "quantity", "unit_price", "line_total", "invoice_date")

Item = dict[str, Any]


def decimal_text(value: Decimal | int) -> str:
    """Exact plain-notation text of a number (`'1000'`, `'-2.55'`), for JSON and digests."""
    return format(canonical_decimal(value), "f")


# --------------------------------------------------------------------------------------------
# Invoices


def line_of(event: SaleEvent) -> list[Any]:
    return [
        event.stock_code,
        event.description,
        int(event.quantity),
        canonical_decimal(event.unit_price),
        canonical_decimal(event.line_total),
        format_invoice_date(event.invoice_date),
    ]


def _line_order(line: list[Any]) -> str:
    # A total order on line contents: if one event_id ever arrived with two contents, every
    # replica keeps the same one regardless of arrival order.
    return json.dumps([v if isinstance(v, (str, type(None))) else decimal_text(v) for v in line])


def _stored_line(line: Iterable[Any]) -> list[Any]:
    stock_code, description, quantity, unit_price, line_total, invoice_date = line
    return [
        stock_code,
        description,
        int(quantity),
        canonical_decimal(unit_price),
        canonical_decimal(line_total),
        invoice_date,
    ]


def _min_present(a: str | None, b: str | None) -> str | None:
    present = [v for v in (a, b) if v is not None]
    return min(present) if present else None


def merge_invoice(current: Mapping[str, Any] | None, events: Iterable[SaleEvent]) -> Item:
    """The invoice item holding `current`'s lines plus the events' lines (all one invoice)."""
    events = list(events)
    if current is None and not events:
        raise ValueError("merge_invoice needs a current item or at least one event")
    invoice_no = current["invoice_no"] if current else events[0].invoice_no
    lines = {eid: _stored_line(line) for eid, line in (current or {}).get("lines", {}).items()}
    country = current.get("country") if current else None
    customer_id = current.get("customer_id") if current else None
    cancelled = bool(current.get("is_cancelled")) if current else False
    for event in events:
        if event.invoice_no != invoice_no:
            raise ValueError(
                f"event {event.event_id} is for invoice {event.invoice_no}, not {invoice_no}"
            )
        line = line_of(event)
        old = lines.get(event.event_id)
        lines[event.event_id] = line if old is None else max(old, line, key=_line_order)
        # Every line of an invoice carries the same country and customer in the data; min keeps
        # the merge order-independent should a producer ever disagree with itself.
        country = event.country if country is None else min(country, event.country)
        customer_id = _min_present(customer_id, event.customer_id)
        cancelled = cancelled or event.is_cancellation
    return _invoice_item(invoice_no, lines, country, customer_id, cancelled)


def _invoice_item(invoice_no, lines, country, customer_id, cancelled) -> Item:
    dates = [line[5] for line in lines.values()]
    return {
        "invoice_no": invoice_no,
        "customer_id": customer_id,
        "country": country,
        "is_cancelled": cancelled,
        "first_invoice_date": min(dates),
        "last_invoice_date": max(dates),
        "line_count": len(lines),
        "quantity": sum(line[2] for line in lines.values()),
        "revenue": canonical_decimal(sum((line[4] for line in lines.values()), Decimal(0))),
        "lines": lines,
    }


def invoice_lines(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The item's lines as named records, in source order (event ids end in the line number)."""
    def order(event_id: str) -> tuple[str, int]:
        prefix, _, number = event_id.rpartition(":")
        return prefix, int(number) if number.isdigit() else 0

    return [
        {"event_id": eid, **dict(zip(LINE_FIELDS, _stored_line(item["lines"][eid]), strict=True))}
        for eid in sorted(item["lines"], key=order)
    ]


def group_by_invoice(events: Iterable[SaleEvent]) -> dict[str, list[SaleEvent]]:
    groups: dict[str, list[SaleEvent]] = {}
    for event in events:
        groups.setdefault(event.invoice_no, []).append(event)
    return groups


# --------------------------------------------------------------------------------------------
# Customers


def invoice_summary(invoice: Mapping[str, Any]) -> Item:
    """What a customer item keeps about one of its invoices, derived from the whole invoice."""
    return {
        "date": invoice["first_invoice_date"],
        "country": invoice["country"],
        "line_count": int(invoice["line_count"]),
        "quantity": int(invoice["quantity"]),
        "revenue": canonical_decimal(invoice["revenue"]),
        "cancelled": bool(invoice["is_cancelled"]),
    }


def customer_summaries(invoices: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Item]]:
    """customer_id -> {invoice_no: summary} for merged invoice items; guest sales are left out."""
    updates: dict[str, dict[str, Item]] = {}
    for invoice in invoices:
        if invoice.get("customer_id") is not None:
            summaries = updates.setdefault(invoice["customer_id"], {})
            summaries[invoice["invoice_no"]] = invoice_summary(invoice)
    return updates


def _summary_order(summary: Mapping[str, Any]) -> tuple[int, str]:
    # More lines = a later state of the same invoice; the text breaks (impossible) ties stably.
    return int(summary["line_count"]), json.dumps(_canonical(summary), sort_keys=True)


def merge_customer(
    current: Mapping[str, Any] | None, customer_id: str, summaries: Mapping[str, Mapping[str, Any]]
) -> Item:
    """The customer item with `summaries` (invoice_no -> summary) merged into `current`'s."""
    invoices = {
        no: invoice_summary_from_stored(s) for no, s in (current or {}).get("invoices", {}).items()
    }
    for invoice_no, summary in summaries.items():
        summary = invoice_summary_from_stored(summary)
        old = invoices.get(invoice_no)
        invoices[invoice_no] = summary if old is None else max(old, summary, key=_summary_order)
    return _customer_item(customer_id, invoices)


def invoice_summary_from_stored(summary: Mapping[str, Any]) -> Item:
    return {
        "date": summary["date"],
        "country": summary["country"],
        "line_count": int(summary["line_count"]),
        "quantity": int(summary["quantity"]),
        "revenue": canonical_decimal(summary["revenue"]),
        "cancelled": bool(summary["cancelled"]),
    }


def _customer_item(customer_id: str, invoices: dict[str, Item]) -> Item:
    purchases = [s["date"] for s in invoices.values() if not s["cancelled"]]
    latest = max(invoices.items(), key=lambda kv: (kv[1]["date"], kv[0]))[1]
    return {
        "customer_id": customer_id,
        "country": latest["country"],
        "countries": sorted({s["country"] for s in invoices.values()}),
        "invoice_count": sum(1 for s in invoices.values() if not s["cancelled"]),
        "cancellation_count": sum(1 for s in invoices.values() if s["cancelled"]),
        "quantity": sum(s["quantity"] for s in invoices.values()),
        "revenue": canonical_decimal(sum((s["revenue"] for s in invoices.values()), Decimal(0))),
        "first_purchase": min(purchases) if purchases else None,
        "last_purchase": max(purchases) if purchases else None,
        "invoices": invoices,
        "revision": content_revision(invoices),
    }


def content_revision(invoices: Mapping[str, Mapping[str, Any]]) -> str:
    """A digest of the invoice map: the optimistic-lock token of a customer item.

    Derived from content rather than counted, so redelivery (no change) keeps it, and every
    batch split ends at the same value; a writer that read revision R may write only if the
    item still has R, i.e. nobody changed the map in between.
    """
    text = json.dumps(_canonical(invoices), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return decimal_text(value)
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"not a DynamoDB item value: {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# DynamoDB limits


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for an item (AWS's published sizing rules, 'DynamoDB item sizes')."""
    return sum(len(name.encode("utf-8")) + _value_size(v) for name, v in item.items())


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (int, Decimal)):
        digits = canonical_decimal(value).as_tuple().digits
        significant = len("".join(map(str, digits)).strip("0")) or 1
        return (significant + 1) // 2 + 1
    if isinstance(value, Mapping):
        return 3 + sum(len(k.encode("utf-8")) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + _value_size(v) for v in value)
    raise TypeError(f"not a DynamoDB item value: {type(value).__name__} (floats are refused)")


# --------------------------------------------------------------------------------------------
# JSON views served by the query API: counts as JSON integers, money as exact decimal strings.


def invoice_view(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "invoice_no": item["invoice_no"],
        "customer_id": item.get("customer_id"),
        "country": item["country"],
        "is_cancelled": bool(item["is_cancelled"]),
        "first_invoice_date": item["first_invoice_date"],
        "last_invoice_date": item["last_invoice_date"],
        "line_count": int(item["line_count"]),
        "quantity": int(item["quantity"]),
        "revenue": decimal_text(item["revenue"]),
        "lines": [
            {
                **line,
                "unit_price": decimal_text(line["unit_price"]),
                "line_total": decimal_text(line["line_total"]),
            }
            for line in invoice_lines(item)
        ],
    }


def customer_view(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": item["customer_id"],
        "country": item["country"],
        "countries": list(item["countries"]),
        "invoice_count": int(item["invoice_count"]),
        "cancellation_count": int(item["cancellation_count"]),
        "quantity": int(item["quantity"]),
        "revenue": decimal_text(item["revenue"]),
        "first_purchase": item.get("first_purchase"),
        "last_purchase": item.get("last_purchase"),
    }


def customer_invoices_page(
    item: Mapping[str, Any], limit: int, after: tuple[str, str] | None = None
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    """One page of a customer's invoice summaries in (date, invoice_no) order, and the position
    of its last entry when more follow (the caller encodes it as the `next` token)."""
    ordered = sorted(item["invoices"].items(), key=lambda kv: (kv[1]["date"], kv[0]))
    if after is not None:
        ordered = [kv for kv in ordered if (kv[1]["date"], kv[0]) > after]
    page = ordered[:limit]
    rows = [
        {
            "invoice_no": no,
            "date": s["date"],
            "country": s["country"],
            "line_count": int(s["line_count"]),
            "quantity": int(s["quantity"]),
            "revenue": decimal_text(s["revenue"]),
            "cancelled": bool(s["cancelled"]),
        }
        for no, s in page
    ]
    more = len(ordered) > limit
    return rows, ((page[-1][1]["date"], page[-1][0]) if more else None)
