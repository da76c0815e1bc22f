"""The sale event: one line of the Online Retail CSV, as it travels through the pipeline.

The validation rules live here once and are used everywhere: by the replay client before it sends,
by the REST API's request model (`pipeline.api_models`, generated from `SaleEvent`), by the ingest
handler (which re-checks what the gateway validated) and by the stream consumers when they parse a
Kinesis record. The rules and the wire format are documented in docs/events.md.

Wire format (API request body, one object per CSV line):
    event_id, invoice_no, stock_code, description|null, quantity:int,
    invoice_date:"YYYY-MM-DDTHH:MM:SS", unit_price:"decimal string", customer_id:"digits"|null, country
A Kinesis record / archive line is that object plus the derived `line_total` (decimal string) and
`is_cancellation` (bool), canonical JSON, UTF-8, terminated by "\\n".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime
from decimal import Context, Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from pipeline.dates import (
    INVOICE_DATE_PATTERN,
    check_invoice_date,
    format_invoice_date,
    parse_invoice_date,
)
from pipeline.fields import EVENT_FIELDS as EVENT_FIELDS  # re-exported: the model's field order
from pipeline.fields import RECORD_FIELDS as RECORD_FIELDS

EVENT_ID_PATTERN = r"^[0-9a-f]{16}:[1-9][0-9]{0,8}$"
INVOICE_NO_PATTERN = r"^[A-Z]?[0-9]{6}$"
CUSTOMER_ID_PATTERN = r"^[0-9]{1,10}$"
# Plain decimal notation only (no exponent, no '+', no leading zeros): money must stay exact.
UNIT_PRICE_PATTERN = r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$"
# Printable text: no control characters (they would break CSV/COPY downstream).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
QUANTITY_LIMIT = 999_999_999
MAX_BATCH = 500
"""Events per API request: one PutRecords call's worth."""


_EXACT = Context(prec=60)  # wide enough that quantity * unit_price is never rounded

_InvoiceDate = Annotated[
    datetime,
    PlainSerializer(format_invoice_date, return_type=str),
    # The published pattern is the validator's own (pipeline.dates): both accept the same strings.
    WithJsonSchema({"type": "string", "pattern": INVOICE_DATE_PATTERN}),
]
_Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": UNIT_PRICE_PATTERN}),
]


class SaleEvent(BaseModel):
    """One sale line. Unknown fields are refused; nothing is coerced (no '6' for 6, no 2.55 float)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, title="SaleEvent", use_attribute_docstrings=True
    )

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    """`<first 16 hex of the source file's sha256>:<line number in that file>` (header is line 1)."""
    invoice_no: str = Field(pattern=INVOICE_NO_PATTERN)
    """Six digits; a 'C' prefix marks a cancellation, an 'A' prefix a bad-debt adjustment."""
    stock_code: str = Field(min_length=1, max_length=32, pattern=TEXT_PATTERN)
    description: str | None = Field(min_length=1, max_length=255, pattern=TEXT_PATTERN)
    """Missing in the source on some lines: null, never an empty string."""
    quantity: int = Field(ge=-QUANTITY_LIMIT, le=QUANTITY_LIMIT)
    """Negative on cancellations and some adjustments."""
    invoice_date: _InvoiceDate
    """Shop-local time (UK), no time zone, as the source has it; 2000-01-01T00:00:00 to
    2099-12-31T23:59:59 (`pipeline.dates`)."""
    unit_price: _Money
    """Exact decimal, sent as a string; may be 0 or negative (bad-debt adjustments)."""
    customer_id: str | None = Field(pattern=CUSTOMER_ID_PATTERN)
    """Missing on about a quarter of the source lines: null."""
    country: str = Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)

    @field_validator("invoice_date", mode="before")
    @classmethod
    def _parse_invoice_date(cls, value: Any) -> datetime:
        if isinstance(value, datetime):
            return check_invoice_date(value)
        return parse_invoice_date(value)

    @field_validator("unit_price", mode="before")
    @classmethod
    def _parse_unit_price(cls, value: Any) -> Decimal:
        if isinstance(value, Decimal):
            value = format(value, "f")
        if not isinstance(value, str) or not re.fullmatch(UNIT_PRICE_PATTERN, value):
            raise ValueError(
                "unit_price must be a decimal string like '2.55', '18' or '-11062.06' "
                "(at most 12 integer and 6 fraction digits, no exponent)"
            )
        return Decimal(value)

    # Derived fields: computed here only, so every component agrees on them.
    @property
    def line_total(self) -> Decimal:
        """quantity * unit_price, exact (no rounding, scale of unit_price)."""
        return _EXACT.multiply(Decimal(self.quantity), self.unit_price)

    @property
    def is_cancellation(self) -> bool:
        return self.invoice_no.startswith("C")

    @property
    def event_date(self) -> str:
        """`YYYY-MM-DD` of invoice_date: the archive's partition."""
        return format_invoice_date(self.invoice_date)[:10]

    @property
    def line_number(self) -> int:
        return int(self.event_id.rsplit(":", 1)[1])

    def wire(self) -> dict[str, Any]:
        """The API request form (JSON-ready dict)."""
        return self.model_dump(mode="json")

    def record(self) -> dict[str, Any]:
        """The Kinesis record / archive line form: the event plus its derived fields."""
        data = self.model_dump(mode="json")
        data["line_total"] = format(self.line_total, "f")
        data["is_cancellation"] = self.is_cancellation
        return data

    def content(self) -> str:
        """The event as one canonical text: two events are the same event exactly when their
        contents are equal. Money is compared by value ('2.5' and '2.50' are one price); the
        derived fields are functions of the rest and left out."""
        # Built from the attributes (not `wire()`): ingest digests every event it accepts.
        return json.dumps(
            [
                self.event_id,
                self.invoice_no,
                self.stock_code,
                self.description,
                self.quantity,
                format_invoice_date(self.invoice_date),
                format(canonical_decimal(self.unit_price), "f"),
                self.customer_id,
                self.country,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def content_digest(self) -> str:
        """12 base64url characters (72 bits) of the content's sha256: what an id's claim holds."""
        digest = hashlib.sha256(self.content().encode("utf-8")).digest()
        return base64.urlsafe_b64encode(digest[:9]).decode("ascii")

    def to_record_bytes(self) -> bytes:
        """Kinesis record data: canonical JSON (fixed key order, no spaces) + newline."""
        return canonical_json(self.record()).encode("utf-8") + b"\n"

    @classmethod
    def from_record(cls, data: bytes | str | dict[str, Any]) -> SaleEvent:
        """Parse a Kinesis record or archive line; its derived fields must agree with the event."""
        if isinstance(data, (bytes, str)):
            try:
                data = json.loads(data)
            except RecursionError:  # a record put on the stream directly: poison, not a crash
                raise InvalidEvent(["record is nested too deeply to be an event"]) from None
        if not isinstance(data, dict):
            raise InvalidEvent(["record is not a JSON object"])
        fields = dict(data)
        line_total = fields.pop("line_total", None)
        is_cancellation = fields.pop("is_cancellation", None)
        event = parse_event(fields)
        if line_total is not None and line_total != format(event.line_total, "f"):
            raise InvalidEvent([f"line_total {line_total!r} != quantity * unit_price"])
        if is_cancellation is not None and is_cancellation is not event.is_cancellation:
            raise InvalidEvent([f"is_cancellation {is_cancellation!r} disagrees with invoice_no"])
        return event


class InvalidEvent(ValueError):
    """An event that breaks a rule; `problems` are one-line `field: reason` strings."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def canonical_decimal(value: Decimal | int) -> Decimal:
    """The value as DynamoDB stores a number: no trailing zeros, no exponent, no negative zero."""
    d = Decimal(value)
    if not d.is_finite():  # NaN and infinities have no DynamoDB form (as_tuple() has no exponent)
        raise ValueError(f"not a finite number: {value}")
    if d == 0:
        return Decimal(0)
    d = d.normalize()
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    return Decimal(format(d, "f")) if exponent > 0 else d


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def describe_errors(error: ValidationError) -> list[str]:
    """Pydantic's errors as `field: reason` lines a user can act on."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "event"
        problems.append(f"{where}: {item['msg']}")
    return problems


_EVENT_ADAPTER = TypeAdapter(SaleEvent)


def parse_event(data: Any) -> SaleEvent:
    """Validate one wire-form event (a dict from JSON); raise InvalidEvent naming every problem."""
    if not isinstance(data, dict):
        raise InvalidEvent([f"event must be a JSON object, got {type(data).__name__}"])
    try:
        # JSON strings for Decimal/datetime are converted by our before-validators; strict
        # mode still refuses '6' for quantity or 2.55 (a float) for unit_price.
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidEvent(describe_errors(exc)) from None


def events_of_body(body: Any) -> list[Any]:
    """The events of a request body: one event object, or {"events": [1..500 events]}."""
    if isinstance(body, dict) and "events" in body:
        if set(body) != {"events"}:
            extra = sorted(set(body) - {"events"})
            raise InvalidEvent([f"batch: unexpected field(s) {extra}; only 'events' is allowed"])
        events = body["events"]
        if not isinstance(events, list):
            raise InvalidEvent(["events: must be an array of events"])
        if not 1 <= len(events) <= MAX_BATCH:
            raise InvalidEvent([f"events: a batch holds 1..{MAX_BATCH} events, got {len(events)}"])
        return events
    if isinstance(body, dict):
        return [body]
    raise InvalidEvent(['body must be an event object or {"events": [...]}'])


def event_id(source_digest: str, line_number: int) -> str:
    """The stable id of the event read from `line_number` of a file whose sha256 is `source_digest`."""
    return f"{source_digest[:16]}:{line_number}"
