"""Reconciliation arithmetic: the figures of a set of sale lines, and their comparison across sinks.

Pure functions over plain values (no AWS): the replay client feeds it the source file and what it
read back from DynamoDB, the S3 archive and the warehouse (`pipeline.client.sinks`).

Figures (every sink must agree with the source exactly):
  lines          distinct sale lines (event ids)
  invoices       distinct invoice numbers (cancellations and adjustments included)
  customers      distinct non-null customer ids
  quantity       sum of quantity
  revenue        sum of line_total = quantity * unit_price, exact Decimal (no rounding)
  cancellations  lines whose invoice_no starts with 'C'
  conflicts      event ids the sink holds with more than one content (0 in the source: an event
                 id names one immutable event, and ingest refuses a second version)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .events import SaleEvent

FIGURES = ("lines", "invoices", "customers", "quantity", "revenue", "cancellations", "conflicts")


@dataclass(frozen=True)
class Figures:
    lines: int = 0
    invoices: int = 0
    customers: int = 0
    quantity: int = 0
    revenue: Decimal = Decimal(0)
    cancellations: int = 0
    conflicts: int = 0

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: revenue as an exact decimal string."""
        return {
            "lines": self.lines,
            "invoices": self.invoices,
            "customers": self.customers,
            "quantity": self.quantity,
            "revenue": format(self.revenue, "f"),
            "cancellations": self.cancellations,
            "conflicts": self.conflicts,
        }


@dataclass
class FigureBuilder:
    """Accumulates figures line by line; a line seen twice (same event id) counts once, and an id
    seen with two different `content`s counts as a conflict (once per id)."""

    _ids: dict[str, int] = field(default_factory=dict)
    """event id -> hash of the content it was first seen with."""
    _conflicting: set[str] = field(default_factory=set)
    _invoices: set[str] = field(default_factory=set)
    _customers: set[str] = field(default_factory=set)
    quantity: int = 0
    revenue: Decimal = Decimal(0)
    cancellations: int = 0
    duplicates: int = 0
    """Lines seen again with an id already counted (at-least-once delivery, client retries)."""

    def add_line(
        self,
        event_id: str,
        invoice_no: str,
        customer_id: str | None,
        quantity: int,
        line_total: Decimal,
        content: Hashable = None,
    ) -> None:
        """`content`: what identifies this copy's version (None: the sink cannot tell versions
        apart this way); two copies of an id with different contents are a conflict."""
        seen = self._ids.get(event_id)
        if seen is not None:
            self.duplicates += 1
            if content is not None and hash(content) != seen:
                self._conflicting.add(event_id)
            return
        self._ids[event_id] = hash(content)
        self._invoices.add(invoice_no)
        if customer_id is not None:
            self._customers.add(customer_id)
        self.quantity += quantity
        self.revenue += line_total
        if invoice_no.startswith("C"):
            self.cancellations += 1

    def add_event(self, event: SaleEvent) -> None:
        self.add_line(
            event.event_id, event.invoice_no, event.customer_id, event.quantity, event.line_total
        )

    def add_record(self, record: dict[str, Any]) -> None:
        """An archive line / Kinesis record dict (wire form + line_total)."""
        self.add_line(
            record["event_id"],
            record["invoice_no"],
            record.get("customer_id"),
            int(record["quantity"]),
            Decimal(record["line_total"]),
            content=record_content(record),
        )

    def figures(self) -> Figures:
        return Figures(
            lines=len(self._ids),
            invoices=len(self._invoices),
            customers=len(self._customers),
            quantity=self.quantity,
            revenue=self.revenue,
            cancellations=self.cancellations,
            conflicts=len(self._conflicting),
        )


def record_content(record: dict[str, Any]) -> tuple:
    """A record's version: its fields, money by value (`SaleEvent.content`'s equality)."""
    return tuple(
        (name, Decimal(value).normalize() if name in ("unit_price", "line_total") else value)
        for name, value in sorted(record.items())
        if not isinstance(value, (dict, list))
    )


def figures_of(events: Iterable[SaleEvent]) -> Figures:
    builder = FigureBuilder()
    for event in events:
        builder.add_event(event)
    return builder.figures()


@dataclass(frozen=True)
class Mismatch:
    sink: str
    figure: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.sink}: {self.figure} is {self.actual}, source has {self.expected}"


def compare(source: Figures, sinks: dict[str, Figures | None]) -> list[Mismatch]:
    """Every figure of every checked sink that differs from the source (None = sink not checked)."""
    problems = []
    for sink, figures in sinks.items():
        if figures is None:
            continue
        for name in FIGURES:
            expected, actual = getattr(source, name), getattr(figures, name)
            if expected != actual:
                problems.append(Mismatch(sink, name, expected, actual))
    return problems


def table(source: Figures, sinks: dict[str, Figures | None]) -> str:
    """A fixed-width table: one row per figure, one column per sink; '!' marks a mismatch."""
    columns = ["source", *sinks]
    rows = [["figure", *columns]]
    for name in FIGURES:
        expected = getattr(source, name)
        row = [name, _cell(expected)]
        for sink in sinks:
            figures = sinks[sink]
            if figures is None:
                row.append("n/a")
                continue
            actual = getattr(figures, name)
            row.append(_cell(actual) + ("" if actual == expected else " !"))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns) + 1)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return f"{value}"


def report(source: Figures, sinks: dict[str, Figures | None], **extra: Any) -> dict[str, Any]:
    """The JSON document written to .e2e/reconciliation.json (see docs/events.md)."""
    mismatches = compare(source, sinks)
    return {
        "ok": not mismatches,
        "source": source.as_json(),
        "sinks": {name: (f.as_json() if f is not None else None) for name, f in sinks.items()},
        "mismatches": [
            {
                "sink": m.sink,
                "figure": m.figure,
                "expected": _cell(m.expected),
                "actual": _cell(m.actual),
            }
            for m in mismatches
        ],
        **extra,
    }
