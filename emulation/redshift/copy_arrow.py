"""The first try of Redshift's `COPY ... FORMAT JSON 'auto'`: pyarrow's JSON reader, given the
table's own schema, turns whole slices of JSON lines into columns in C++, and its CSV writer
hands them to PostgreSQL's `COPY ... FROM STDIN (FORMAT csv)`; no Python touches a single row.

It takes only what it loads exactly as the SQL path (the reference) would; anything else raises
`NotForArrow` and the caller runs the COPY again on the orjson path (emulation.redshift.copy_json),
which in turn hands what it cannot reproduce to the SQL path:
- types: character/text, smallint/integer/bigint, numeric(p,s) (p <= 38), boolean, and
  timestamp/date/time read as their JSON string; any other column type keeps this path out;
- values must already have the column's JSON kind: a JSON number into a VARCHAR, a string into
  an integer or a boolean, a number into a timestamp, a nested value, a duplicate key, a number
  with more fractional digits than the column's scale or an integer out of range is an arrow
  error (the orjson path then passes its text on, as the SQL path does);
- shape: one object per line, no blank lines; arrow would also read two objects on one line,
  one object over two lines and skip blank lines, so a slice that holds `}{` on one line, or
  (with that excluded) whose row count differs from its line count, goes to the orjson path.
  Without two objects on one line every non-blank line meets exactly one object, so rows equal
  lines only when every line is one whole object.
Decimals never pass through a float: arrow parses the number's text into a decimal128 of the
column's precision and scale, and PostgreSQL checks the precision on input. PostgreSQL's input
functions check every value, as on the other paths; a value it refuses (NUL, invalid UTF-8)
fails the direct load and the SQL path finds and reports the record.
"""

from __future__ import annotations

import re

COPY_OPTIONS = "(FORMAT csv)"
"""What `ArrowJsonLines.convert` writes: PostgreSQL's CSV defaults (quote '"', NULL unquoted empty)."""

_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)$")
_TWO_ON_ONE_LINE = re.compile(rb"\}[ \t\r]*\{")  # a false match (inside a string) only costs speed


class NotForArrow(Exception):
    """This slice needs the orjson path (or, through it, the SQL path) to load exactly."""


def _arrow_type(pa, column_type: str):
    if column_type.startswith(("character", "text", "timestamp", "date", "time")):
        return pa.string()
    if column_type in ("smallint", "integer", "bigint", "boolean"):
        return {
            "smallint": pa.int16(),
            "integer": pa.int32(),
            "bigint": pa.int64(),
            "boolean": pa.bool_(),
        }[column_type]
    numeric = _NUMERIC.match(column_type)
    if numeric and int(numeric[1]) <= 38:
        return pa.decimal128(int(numeric[1]), int(numeric[2]))
    return None


class ArrowJsonLines:
    """Converts slices of JSON lines (no final newline) into PostgreSQL CSV rows for the columns."""

    copy_options = COPY_OPTIONS
    slice_bytes = 1 << 20  # arrow's per-call set-up is paid once per MB, not once per 64 KB

    def __init__(self, schema):
        import pyarrow.csv
        import pyarrow.json

        self._json, self._csv, self.schema = pyarrow.json, pyarrow.csv, schema
        self._parse = pyarrow.json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        )
        self._write = pyarrow.csv.WriteOptions(include_header=False, quoting_style="all_valid")

    @classmethod
    def for_columns(cls, names: list[str], types: list[str]) -> ArrowJsonLines | None:
        """None when a column's type is not one this path reproduces exactly (or pyarrow is absent)."""
        try:
            import pyarrow as pa
        except ImportError:
            return None
        fields = [(name, _arrow_type(pa, t)) for name, t in zip(names, types)]
        if any(t is None for _n, t in fields) or len(set(names)) != len(names):
            return None
        return cls(pa.schema(fields))

    def convert(self, text: bytes) -> bytes:
        import pyarrow as pa

        if _TWO_ON_ONE_LINE.search(text):
            raise NotForArrow("two objects on one line")
        try:
            table = self._json.read_json(
                pa.BufferReader(text),
                read_options=self._json.ReadOptions(use_threads=False, block_size=len(text) + 1),
                parse_options=self._parse,
            )
        except pa.ArrowInvalid as exc:
            raise NotForArrow(str(exc).splitlines()[0]) from None
        if table.num_rows != text.count(b"\n") + 1:
            raise NotForArrow("a blank line, or an object over several lines")
        out = pa.BufferOutputStream()
        self._csv.write_csv(table, out, self._write)
        return out.getvalue().to_pybytes()
