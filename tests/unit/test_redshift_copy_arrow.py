"""The first try of COPY JSON 'auto' (emulation.redshift.copy_arrow), without PostgreSQL: what it
writes is read back as PostgreSQL's CSV (an unquoted empty field is NULL); what it cannot load
exactly is refused so that the orjson path (and through it the SQL path) takes it."""

from __future__ import annotations

import pytest

from emulation.redshift.copy_arrow import ArrowJsonLines, NotForArrow

COLUMNS = ["id", "qty", "price", "total", "note", "flag", "at"]
TYPES = ["character varying(32)", "integer", "numeric(18,6)", "numeric(38,6)", "text", "boolean",
         "timestamp without time zone"]


def converter() -> ArrowJsonLines:
    conv = ArrowJsonLines.for_columns(COLUMNS, TYPES)
    assert conv is not None
    return conv


def pg_csv(text: str) -> list[list[str | None]]:
    """PostgreSQL's CSV reading: '"' quotes ('""' inside is one quote), an unquoted empty field is NULL."""
    records, fields, value, quoted, in_quotes, i = [], [], "", False, False, 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            if ch == '"' and text[i + 1:i + 2] == '"':
                value, i = value + '"', i + 1
            elif ch == '"':
                in_quotes = False
            else:
                value += ch
        elif ch == '"':
            in_quotes = quoted = True
        elif ch in ",\n":
            fields.append(value if quoted else (value or None))
            value, quoted = "", False
            if ch == "\n":
                records.append(fields)
                fields = []
        else:
            value += ch
        i += 1
    assert not fields and not value, "every row ends with a newline"
    return records


def rows(text: bytes) -> list[list[str | None]]:
    return pg_csv(converter().convert(text).decode())


def test_values_become_postgres_input_text_decimals_exact_and_missing_keys_null():
    text = (b'{"id":"a","qty":6,"price":"2.55","total":123456789012.123456,"note":null,"flag":false,'
            b'"at":"2010-12-01T08:26:00","other":[1]}\n'
            b'{"id":"","qty":-0,"price":0.000001,"flag":true}')
    assert rows(text) == [
        ["a", "6", "2.550000", "123456789012.123456", None, "false", "2010-12-01T08:26:00"],
        ["", "0", "0.000001", None, None, "true", None],
    ]


def test_quotes_commas_and_newlines_inside_strings_survive_as_csv():
    text = b'{"id":"q\\"x,y","note":"line\\nnext\\r\\u00a3"}'
    assert rows(text) == [['q"x,y', None, None, None, "line\nnext\r\u00a3", None, None]]


def test_keys_match_case_sensitively():
    assert rows(b'{"ID":"a","Qty":1,"id":"b"}')[0][:2] == ["b", None]


@pytest.mark.parametrize("text", [
    b'{"id":17850}',                              # a number into VARCHAR: its text is the orjson path's job
    b'{"id":"a","qty":"12"}',                     # a string into INTEGER
    b'{"id":"a","flag":"true"}',                  # a string into BOOLEAN
    b'{"id":"a","price":0.1234567}',              # more digits than the scale: PostgreSQL rounds, arrow refuses
    b'{"id":"a","qty":3000000000}',               # out of INTEGER's range
    b'{"id":{"nested":1}}',                       # a nested value
    b'{"id":"a","id":"b"}',                       # a duplicate key (PostgreSQL's json keeps the last)
    b'{"id":"a"}{"id":"b"}',                      # two objects on one line (the SQL path: a bad record)
    b'{"id":"a"} \t{"id":"b"}\n{"id":"c"}',
    b'{"id":"a"}{"id":"b"}\n{"id":\n"c"}',         # two on one line + one over two: rows == lines
    b'{"id":"a"}{"id":"b"}\n\n{"id":"c"}',          # two on one line + a blank line: rows == lines
    b'{"id":\n"a"}',                              # one object over two lines
    b'{"id":"a"}\n\n{"id":"b"}',                  # a blank line
    b'{"id":"a"}\n   \n{"id":"b"}',
    b'["a"]',
    b'{"id":"\\ud800"}',                          # a lone surrogate
])
def test_what_it_cannot_load_exactly_goes_to_the_orjson_path(text):
    with pytest.raises(NotForArrow):
        converter().convert(text)


def test_types_it_does_not_reproduce_keep_the_path_out():
    assert ArrowJsonLines.for_columns(["x"], ["double precision"]) is None
    assert ArrowJsonLines.for_columns(["x"], ["numeric"]) is None  # no declared scale
    assert ArrowJsonLines.for_columns(["x"], ["jsonb"]) is None
    assert ArrowJsonLines.for_columns(["x", "y"], ["text", "date"]) is not None
