"""A logical invoice as the `invoice` table stores it: page items under the sort key `page`.

DynamoDB refuses items over 400 KB, and nothing bounds the lines of an invoice the API accepts, so
the lines are cut into pages:

    page "0"      the header (totals, dates, customer, country), `pages` = how many page items,
                  and the first lines. A normal invoice is this one item (the data's largest,
                  1,114 lines, is ~110 KB), so the common case costs what one item always cost.
    page "1"...   only for huge invoices: more lines, with the invoice's customer and country
                  (each page resolves its own lines) and the `revision` shared by all pages.

The cut is a function of the line set alone (lines in source order, filled greedily up to
PAGE_LINE_BYTES), so any delivery of the same events gives the same page items. Pure domain code;
the write protocol that keeps readers and crashes safe is `pipeline.handlers.project`'s, the read
side `pipeline.handlers.query`'s, both described in docs/tables.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from .events import SaleEvent, canonical_decimal
from .projections import (
    INVOICE_HEADER,
    Item,
    line_order,
    merge_items,
    source_order,
)

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit."""
PAGE_LINE_BYTES = 360 * 1024
"""Lines per page item, by DynamoDB's size rules: the rest of 400 KB holds the header."""
FIRST_PAGE = "0"


def page_key(page: int) -> str:
    return str(page)


def page_count(head: Mapping[str, Any] | None) -> int:
    """How many page items the invoice's page 0 says may exist (`spill_mark`: pages a write in
    progress may have created before it rewrote page 0)."""
    if not head:
        return 0
    return max(int(head.get("pages", 1)), int(head.get("spill_mark", 0)))


def paginate(invoice: Mapping[str, Any]) -> list[Item]:
    """The page items of a logical invoice (`pipeline.projections.invoice_item`)."""
    header = {name: invoice[name] for name in INVOICE_HEADER}
    ordered = sorted(invoice["lines"], key=source_order)
    chunks: list[dict[str, Any]] = [{}]
    size = 0
    for event_id in ordered:
        line = invoice["lines"][event_id]
        cost = len(event_id.encode("utf-8")) + 1 + _value_size(line)
        if chunks[-1] and size + cost > PAGE_LINE_BYTES:
            chunks.append({})
            size = 0
        chunks[-1][event_id] = line
        size += cost
    if len(chunks) == 1:
        return [{**header, "page": FIRST_PAGE, "pages": 1, "lines": chunks[0]}]
    revision = lines_revision(invoice["lines"])
    pages = [
        {
            **header,
            "page": FIRST_PAGE,
            "pages": len(chunks),
            "revision": revision,
            "lines": chunks[0],
        }
    ]
    for number, chunk in enumerate(chunks[1:], start=1):
        pages.append(
            {
                "invoice_no": invoice["invoice_no"],
                "page": page_key(number),
                "customer_id": invoice["customer_id"],
                "country": invoice["country"],
                "revision": revision,
                "lines": chunk,
            }
        )
    return pages


def assemble(
    pages: Iterable[Mapping[str, Any]],
    events: Iterable[SaleEvent] = (),
    *,
    on_conflict: Callable[[str], None] | None = None,
) -> Item | None:
    """The logical invoice of whatever page items exist (the union of their lines), with the
    events merged in; None if that has no line at all.

    Any page of any attempt holds only lines that were merged into this invoice, so the union is
    a state a merge could have produced: after a crash between page writes, the next write starts
    from everything any attempt wrote."""
    return merge_items(pages, events, on_conflict=on_conflict)


def lines_revision(lines: Mapping[str, Any]) -> str:
    """A digest of every line: the pages of one state of the invoice carry the same revision."""
    text = json.dumps(
        {eid: line_order(list(line)) for eid, line in sorted(lines.items())}, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


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
        return _number_size(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(k.encode("utf-8")) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + _value_size(v) for v in value)
    raise TypeError(f"not a DynamoDB item value: {type(value).__name__} (floats are refused)")


def _number_size(value: int | Decimal) -> int:
    """A number's size: (significant digits + 1) // 2 + 1 of the number as DynamoDB stores it
    (`canonical_decimal`). Read from its text where that gives the same digits, which is several
    times cheaper than normalizing it (the projector sizes every line of every invoice it writes)."""
    kind = type(
        value
    )  # exact types: a bool (an int subclass) or a Decimal subclass takes the slow path
    if kind is int or (isinstance(value, Decimal) and kind is Decimal and value.is_finite()):
        significant = str(value).partition("E")[0].lstrip("-").replace(".", "").strip("0")
        if len(significant) <= 28:  # past the context's precision canonical_decimal rounds: let it
            return (max(len(significant), 1) + 1) // 2 + 1
    digits = canonical_decimal(value).as_tuple().digits
    count = len("".join(map(str, digits)).strip("0")) or 1
    return (count + 1) // 2 + 1
