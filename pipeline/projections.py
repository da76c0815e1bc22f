"""The invoice projection of the sale stream: one logical invoice per invoice number. Pure domain
code (no boto3); items are plain dicts of str / int / Decimal / bool / None / list / dict, which
is what boto3's DynamoDB (de)serializer maps to and from.

A logical invoice holds every line of the invoice; `pipeline.invoice_pages` cuts it into the page
items the `invoice` table stores (one for any normal invoice), and `pipeline.customers` derives the
customer table's items from it.

Merging is idempotent, commutative and associative, so a stream delivered at least once, split
into batches anywhere, converges to the same invoice (the argument is in docs/tables.md): the
lines are a map keyed by `event_id`, a merge is a union, and every other field is recomputed from
the lines. Numbers are exact `Decimal` / `int` in canonical form (no exponent, no trailing zeros,
no -0), the form DynamoDB itself stores, so a read-back item compares equal to the one written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from .dates import format_invoice_date
from .events import SaleEvent, canonical_decimal

# A line is stored as a positional list (no attribute names per line) to keep big invoices small:
# [stock_code, description, quantity, unit_price, line_total, invoice_date], followed by
# [customer_id, country] only when those differ from the invoice's own (never, in the data).
LINE_FIELDS = ("stock_code", "description", "quantity", "unit_price", "line_total", "invoice_date")
OWN_FIELDS = ("customer_id", "country")

Item = dict[str, Any]
FullLine = list[Any]
"""LINE_FIELDS + OWN_FIELDS: a line with its own customer and country, whatever the invoice's."""


def decimal_text(value: Decimal | int) -> str:
    """Exact plain-notation text of a number (`'1000'`, `'-2.55'`), for JSON and digests."""
    return format(canonical_decimal(value), "f")


# --------------------------------------------------------------------------------------------
# Lines


def line_of(event: SaleEvent) -> FullLine:
    return [
        event.stock_code,
        event.description,
        int(event.quantity),
        canonical_decimal(event.unit_price),
        canonical_decimal(event.line_total),
        format_invoice_date(event.invoice_date),
        event.customer_id,
        event.country,
    ]


def full_line(stored: Iterable[Any], customer_id: str | None, country: str | None) -> FullLine:
    """A stored line (6 or 8 values) with the invoice's customer and country filled in."""
    values = list(stored)
    own = values[6:8] if len(values) == 8 else [customer_id, country]
    stock_code, description, quantity, unit_price, line_total, invoice_date = values[:6]
    return [
        stock_code,
        description,
        int(quantity),
        canonical_decimal(unit_price),
        canonical_decimal(line_total),
        invoice_date,
        *own,
    ]


def stored_line(line: FullLine, customer_id: str | None, country: str) -> list[Any]:
    """The form kept in an item: the customer and country only where they differ from the invoice's."""
    return line if (line[6], line[7]) != (customer_id, country) else line[:6]


def line_order(line: FullLine) -> str:
    """A total order on line contents: should one event_id ever arrive with two contents, every
    replica keeps the same one whatever the order of arrival (ingest refuses a second version,
    `pipeline.claims`, so this is a backstop)."""
    return json.dumps([v if isinstance(v, (str, type(None))) else decimal_text(v) for v in line])


def source_order(event_id: str) -> tuple[str, int]:
    prefix, _, number = event_id.rpartition(":")
    return prefix, int(number) if number.isdigit() else 0


# --------------------------------------------------------------------------------------------
# Invoices


def invoice_full_lines(item: Mapping[str, Any] | None) -> dict[str, FullLine]:
    """event_id -> full line of a logical invoice (or of one page item)."""
    if not item:
        return {}
    customer_id, country = item.get("customer_id"), item.get("country")
    return {
        eid: full_line(line, customer_id, country) for eid, line in item.get("lines", {}).items()
    }


def merge_lines(
    lines: dict[str, FullLine],
    event_id: str,
    line: FullLine,
    on_conflict: Callable[[str], None] | None = None,
) -> None:
    """Add one line to `lines` (in place): a union, the larger line in `line_order` on a clash."""
    old = lines.get(event_id)
    if old is None:
        lines[event_id] = line
    elif old != line:
        if on_conflict is not None:
            on_conflict(event_id)
        lines[event_id] = max(old, line, key=line_order)


def merge_invoice(
    current: Mapping[str, Any] | None,
    events: Iterable[SaleEvent],
    *,
    on_conflict: Callable[[str], None] | None = None,
) -> Item:
    """The logical invoice holding `current`'s lines plus the events' lines (all one invoice).

    `on_conflict(event_id)` is called for an event whose id the invoice holds with other content."""
    merged = merge_items([current] if current else [], events, on_conflict=on_conflict)
    if merged is None:
        raise ValueError("merge_invoice needs a current invoice or at least one event")
    return merged


def merge_items(
    items: Iterable[Mapping[str, Any]],
    events: Iterable[SaleEvent] = (),
    *,
    on_conflict: Callable[[str], None] | None = None,
) -> Item | None:
    """The logical invoice of the union of the lines of `items` (logical invoices or page items of
    one invoice) and of the events; None when that is no line at all."""
    invoice_no: str | None = None
    lines: dict[str, FullLine] = {}
    for item in items:
        invoice_no = item["invoice_no"]
        for event_id, line in invoice_full_lines(item).items():
            merge_lines(lines, event_id, line)
    for event in events:
        if invoice_no is None:
            invoice_no = event.invoice_no
        elif event.invoice_no != invoice_no:
            raise ValueError(
                f"event {event.event_id} is for invoice {event.invoice_no}, not {invoice_no}"
            )
        merge_lines(lines, event.event_id, line_of(event), on_conflict)
    if invoice_no is None or not lines:
        return None
    return invoice_item(invoice_no, lines)


def invoice_item(invoice_no: str, lines: Mapping[str, FullLine]) -> Item:
    """The logical invoice of these full lines: every attribute is a function of the lines."""
    if not lines:
        raise ValueError(f"invoice {invoice_no} has no lines")
    customers = [line[6] for line in lines.values() if line[6] is not None]
    # Every line of an invoice carries the same customer and country in the data; min keeps the
    # result order-independent should a producer disagree with itself (the lines keep their own).
    customer_id = min(customers) if customers else None
    country = min(line[7] for line in lines.values())
    dates = [line[5] for line in lines.values()]
    return {
        "invoice_no": invoice_no,
        "customer_id": customer_id,
        "country": country,
        "is_cancelled": invoice_no.startswith("C"),
        "first_invoice_date": min(dates),
        "last_invoice_date": max(dates),
        "line_count": len(lines),
        "quantity": sum(line[2] for line in lines.values()),
        "revenue": canonical_decimal(sum((line[4] for line in lines.values()), Decimal(0))),
        "lines": {eid: stored_line(line, customer_id, country) for eid, line in lines.items()},
    }


def invoice_lines(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The item's lines as named records, in source order (event ids end in the line number)."""
    lines = invoice_full_lines(item)
    return [
        {"event_id": eid, **dict(zip(LINE_FIELDS + OWN_FIELDS, lines[eid], strict=True))}
        for eid in sorted(lines, key=source_order)
    ]


def group_by_invoice(events: Iterable[SaleEvent]) -> dict[str, list[SaleEvent]]:
    groups: dict[str, list[SaleEvent]] = {}
    for event in events:
        groups.setdefault(event.invoice_no, []).append(event)
    return groups


# --------------------------------------------------------------------------------------------
# The JSON view served by the query API: counts as JSON integers, money as exact decimal strings.

INVOICE_HEADER = (
    "invoice_no",
    "customer_id",
    "country",
    "is_cancelled",
    "first_invoice_date",
    "last_invoice_date",
    "line_count",
    "quantity",
    "revenue",
)


def invoice_view(
    header: Mapping[str, Any], lines_item: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The invoice's header with the lines of `lines_item` (one page item; default: `header`'s)."""
    return {
        "invoice_no": header["invoice_no"],
        "customer_id": header.get("customer_id"),
        "country": header["country"],
        "is_cancelled": bool(header["is_cancelled"]),
        "first_invoice_date": header["first_invoice_date"],
        "last_invoice_date": header["last_invoice_date"],
        "line_count": int(header["line_count"]),
        "quantity": int(header["quantity"]),
        "revenue": decimal_text(header["revenue"]),
        "lines": [
            {
                **line,
                "unit_price": decimal_text(line["unit_price"]),
                "line_total": decimal_text(line["line_total"]),
            }
            for line in invoice_lines(header if lines_item is None else lines_item)
        ],
    }
