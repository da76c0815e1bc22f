"""The fast path of Redshift's `COPY ... FORMAT JSON 'auto'`: JSON lines become PostgreSQL COPY rows
in Python and stream straight into the target table.

Parsing JSON inside PostgreSQL (`json_populate_record`, one call per line) costs several times a
plain COPY, so a JSON COPY first tries this path: orjson parses each line, the target columns are
picked by key (case-sensitive, as Redshift's 'auto': table columns are lower case, so are the
keys that match them), and the values go out as CSV (quote 0x01, delimiter 0x02, every value
quoted, NULL unquoted and empty) to `COPY table (columns) FROM STDIN`. PostgreSQL's own type input
functions check every value, exactly as on the SQL path, which passes the same text to them.

This path only takes what it reproduces exactly. Anything else raises `NeedsSqlPath` and the
caller runs the whole COPY on the SQL path (emulation.redshift.copy), which is the reference and
finds and reports bad records:
- a line that is not one JSON object (broken JSON, an array, several objects, invalid UTF-8);
- a nested object or array in a picked field (the SQL path loads it as its JSON text, as written);
- a string PostgreSQL cannot hold (NUL, a lone surrogate).
Numbers keep their exact text: orjson reads an integer exactly, but turns a fraction, an
exponent or a huge integer into a float, and -0 into 0; such a chunk is parsed again with every
number kept as its text, so a DECIMAL given as a JSON number never goes through a float.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import json
import re
from itertools import repeat
from operator import itemgetter

import orjson

QUOTE, DELIMITER = "\x01", "\x02"
_NULL = "\x03"  # placeholder for a NULL while a chunk is joined; becomes an unquoted empty field
_QUOTED_NULL = QUOTE + _NULL + QUOTE
_NONE_TYPE = type(None)
_TO_NULL = {None: _NULL}
_BOOL: dict[bool | None, str] = {
    True: "true",
    False: "false",
}  # JSON's spelling, as PostgreSQL's json gives them
_BOOL_OR_NULL: dict[bool | None, str] = {None: _NULL, **_BOOL}
_NEGATIVE_ZERO = re.compile(
    rb"-0(?=[ \t\r\n,}\]])"
)  # a false match only sends the chunk to the exact parse
# Column types whose PostgreSQL input function receives the same text from both paths.
_PLAIN_TYPES = (
    "character varying",
    "character",
    "text",
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double precision",
    "boolean",
    "timestamp",
    "date",
    "time",
)


class NeedsSqlPath(Exception):
    """The data holds something only the SQL path reproduces exactly (or reports as bad)."""


class _NumbersNeedText(Exception):
    """orjson read a number inexactly (a float): parse the chunk again keeping number text."""


def fits_fast_path(column_types: list[str]) -> bool:
    """Every target column takes plain text input (no json, arrays, composite or user types)."""
    return all(t.startswith(_PLAIN_TYPES) and not t.endswith("]") for t in column_types)


def copy_options_sql() -> str:
    """The `COPY ... FROM STDIN` options that read what `JsonLines.convert` writes."""
    return "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"


class JsonLines:
    """Converts complete JSON lines (one object per line) into CSV rows for the target columns."""

    def __init__(self, columns: list[str] | tuple[str, ...]):
        self.columns = tuple(columns)
        pick = itemgetter(*self.columns)
        self._pick = pick if len(self.columns) > 1 else (lambda obj: (pick(obj),))

    def convert(self, text: bytes) -> bytes:
        """`text` holds whole lines (the last one may lack its newline); returns CSV rows."""
        exact = _NEGATIVE_ZERO.search(text) is not None
        objects = self._parse_exact(text) if exact else self._parse(text)
        if not objects:
            return b""
        # Only an escape can put the quote or the NULL placeholder into a string (raw control
        # characters are not JSON): such a chunk quotes value by value.
        careful = b"\\u000" in text
        try:
            return self._rows(objects, careful)
        except _NumbersNeedText:
            return self._rows(self._parse_exact(text), careful)

    # -- parsing -------------------------------------------------------------------------------
    def _parse(self, text: bytes) -> list[dict]:
        lines = text.split(b"\n")
        if not lines[-1]:
            lines.pop()
        try:
            objects = list(map(orjson.loads, lines))
        except orjson.JSONDecodeError:  # a blank line, or a bad one: look at each
            objects = []
            for line in lines:
                if _blank(line):
                    continue
                try:
                    objects.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    raise NeedsSqlPath("a line is not valid JSON") from None
        if set(map(type, objects)) - {dict}:
            raise NeedsSqlPath("a line is not a JSON object")
        return objects

    def _parse_exact(self, text: bytes) -> list[dict]:
        """Every number kept as the text it was written as."""
        objects = []
        for line in text.split(b"\n"):
            if _blank(line):
                continue
            try:  # decoded first: json.loads would guess UTF-16/32 from the bytes
                obj = json.loads(
                    line.decode("utf-8"),
                    parse_float=str,
                    parse_int=str,
                    parse_constant=_no_constant,
                )
            except ValueError:  # UnicodeDecodeError is a ValueError
                raise NeedsSqlPath("a line is not valid JSON") from None
            if type(obj) is not dict:
                raise NeedsSqlPath("a line is not a JSON object")
            objects.append(obj)
        return objects

    # -- rows ------------------------------------------------------------------------------------
    def _rows(self, objects: list[dict], careful: bool) -> bytes:
        null = None if careful else _NULL
        columns = [_column_text(values, null) for values in self._columns(objects)]
        try:
            if careful:
                return "".join(map(_careful_row, zip(*columns))).encode()
            body = (QUOTE + DELIMITER + QUOTE).join  # every field quoted; NULLs unquoted below
            text = QUOTE + (QUOTE + "\n" + QUOTE).join(map(body, zip(*columns))) + QUOTE + "\n"
            return text.replace(_QUOTED_NULL, "").encode()
        except UnicodeEncodeError:
            raise NeedsSqlPath("a string is not valid Unicode (lone surrogate)") from None

    def _columns(self, objects: list[dict]) -> list:
        """Each target column's values, at C speed; a missing key is NULL, as on Redshift."""
        try:  # every key present (the usual case): one C call per object, then a transpose
            return list(zip(*map(self._pick, objects)))
        except KeyError:
            return [list(map(dict.get, objects, repeat(name))) for name in self.columns]


def _column_text(values: tuple, null: str | None) -> list | tuple:
    """One column's values as PostgreSQL input text (`null` for NULL), in bulk where the types allow."""
    types = set(map(type, values))
    if types <= {str} or (null is None and types <= {str, _NONE_TYPE}):
        return values
    if types <= {str, _NONE_TYPE}:
        return list(map(_TO_NULL.get, values, values))
    if types == {int}:
        return list(map(str, values))
    if types <= {bool, str, _NONE_TYPE}:
        return list(map(_BOOL_OR_NULL.get if null else _BOOL.get, values, values))
    return [null if v is None else _value_text(v) for v in values]


def _value_text(value) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float:
        raise _NumbersNeedText()
    raise NeedsSqlPath("a picked field is a nested object or array")


def _careful_row(fields: tuple) -> str:
    return (
        DELIMITER.join(
            "" if f is None else QUOTE + f.replace(QUOTE, QUOTE + QUOTE) + QUOTE for f in fields
        )
        + "\n"
    )


def _blank(line: bytes) -> bool:
    """Whitespace between objects, as the SQL path skips it (spaces, and CR from CRLF)."""
    return not line.strip(b" \r")


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def line_slices(pieces, size: int = 64 * 1024):
    """Whole-line slices of about `size` bytes (no final newline) from `read_ahead`'s
    (url, chunk | None) stream; small slices keep the conversion in the CPU cache."""
    tail = b""
    for _url, data in pieces:
        if data is None:  # the object ends: its last line may lack a newline
            if tail.strip(b" \r\n"):
                yield tail
            tail = b""
            continue
        buf = tail + data if tail else data
        start, end = 0, buf.rfind(b"\n")
        while start <= end:
            cut = buf.rfind(b"\n", start, start + size) if end - start > size else end
            if cut < start:  # one line longer than a slice
                cut = buf.find(b"\n", start + size)
            yield buf[start:cut]
            start = cut + 1
        tail = buf[start:]
