"""The invoice_date rule, written once: its range, its exact pattern, how it is read and written.

Standard library only, because the Glue job imports it where pydantic may not be installed. Used
by the event model (`pipeline.events`: the API's published JSON-schema pattern, the handlers, the
stream consumers and the replay client all validate through it) and by the Glue job's typing
(`pipeline.glue.transforms`), so every part accepts exactly the same dates (docs/events.md).

The range is 2000-01-01T00:00:00 .. 2099-12-31T23:59:59. In it every year has four digits, so the
text form has one width and sorts as the dates do, and the leap rule is "every 4th year" (2000 is
a leap year by the 400-year rule), which a regular expression can state exactly: the pattern
accepts precisely the valid date-times of the range, so the published pattern and the validator
cannot disagree.
"""

from __future__ import annotations

import re
from datetime import datetime

FIRST = datetime(2000, 1, 1, 0, 0, 0)
LAST = datetime(2099, 12, 31, 23, 59, 59)
RANGE_TEXT = "2000-01-01T00:00:00..2099-12-31T23:59:59"

_YEAR = "20[0-9][0-9]"
_MONTH_DAY = (
    "(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"  # days 1-28: every month has them
    "|(0[13-9]|1[0-2])-(29|30)"  # 29 and 30: every month but February
    "|(0[13578]|1[02])-31"  # 31: the seven long months
)
_LEAP_YEAR = "20(0[048]|[2468][048]|[13579][26])"  # the multiples of 4 in 2000-2099
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
# End of input in every regex dialect the pattern meets (ECMA 262 for JSON Schema, Java in API
# Gateway and Spark, Python): a bare `$` also matches before a final newline in Java and Python.
_END = r"(?![\s\S])"
# Plain groups only (no `(?:`), lookahead only at the end: portable to all of them.
INVOICE_DATE_PATTERN = f"^({_YEAR}-({_MONTH_DAY})|{_LEAP_YEAR}-02-29)T{_TIME}{_END}"
"""Exactly the date-times `YYYY-MM-DDTHH:MM:SS` of the range, valid calendar dates only."""

_COMPILED = re.compile(INVOICE_DATE_PATTERN)


def is_invoice_date(text: object) -> bool:
    """Whether `text` is an invoice_date string the pipeline accepts."""
    return isinstance(text, str) and _COMPILED.search(text) is not None


def parse_invoice_date(text: object) -> datetime:
    """The naive datetime of an invoice_date string; ValueError naming the rule otherwise."""
    if not is_invoice_date(text):
        raise ValueError(
            f"invoice_date must be a real date and time 'YYYY-MM-DDTHH:MM:SS' in {RANGE_TEXT}"
        )
    return datetime.fromisoformat(str(text))


def check_invoice_date(value: datetime) -> datetime:
    """`value` if it is a naive, whole-second datetime in the range; ValueError otherwise."""
    if value.tzinfo is not None or value.microsecond:
        raise ValueError("invoice_date must be a naive timestamp with whole seconds")
    if not FIRST <= value <= LAST:
        raise ValueError(f"invoice_date {value.isoformat()} is outside {RANGE_TEXT}")
    return value


def format_invoice_date(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS`, zero-padded on every platform (strftime's %Y is not, below 1000)."""
    return check_invoice_date(value).isoformat(timespec="seconds")
