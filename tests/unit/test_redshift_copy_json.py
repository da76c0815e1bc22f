"""The direct JSON path's conversion (emulation.redshift.copy_json), without PostgreSQL: what it
writes is read back with Python's csv module using the same quote and delimiter bytes."""

from __future__ import annotations

import csv
import io

import pytest

from emulation.redshift.copy_json import (
    DELIMITER,
    QUOTE,
    JsonLines,
    NeedsSqlPath,
    fits_fast_path,
    line_slices,
)

COLUMNS = ("id", "qty", "price", "note", "flag")


def rows(text: bytes, columns=COLUMNS) -> list[list[str | None]]:
    """CSV back to values; an unquoted empty field is NULL (None), as PostgreSQL reads it."""
    out = []
    for line in JsonLines(columns).convert(text).decode().split("\n")[:-1]:
        fields = next(csv.reader(io.StringIO(line), delimiter=DELIMITER, quotechar=QUOTE))
        raw = line.split(DELIMITER)
        out.append([None if r == "" else f for f, r in zip(fields, raw)])
    return out


def test_values_become_postgres_input_text_and_missing_keys_null():
    text = b'{"id":"a","qty":6,"price":"2.55","note":null,"flag":false,"other":[1]}\n{"id":"b","flag":true}'
    assert rows(text) == [["a", "6", "2.55", None, "false"], ["b", None, None, None, "true"]]


def test_numbers_keep_their_text_even_when_a_float_would_round_them():
    text = b'{"id":"a","price":123456789012.123456,"qty":-0}\n{"id":"b","price":1E-6,"qty":18446744073709551616}'
    assert rows(text) == [["a", "-0", "123456789012.123456", None, None],
                          ["b", "18446744073709551616", "1E-6", None, None]]


def test_keys_match_case_sensitively():
    assert rows(b'{"ID":"a","Qty":1,"id":"b"}') == [["b", None, None, None, None]]


def test_the_last_of_duplicate_keys_wins_as_in_postgresql_json():
    assert rows(b'{"id":"a","id":"b"}') == [["b", None, None, None, None]]


def test_quote_byte_and_null_placeholder_inside_strings_survive():
    text = b'{"id":"\\u0001x\\u0001","note":"\\u0003"}\n{"id":"","note":"tab\\there"}'
    assert rows(text) == [["\x01x\x01", None, None, "\x03", None], ["", None, None, "tab\there", None]]


def test_blank_lines_and_crlf_are_whitespace_between_objects():
    assert rows(b'{"id":"a"}\r\n\n   \r\n{"id":"b"}\r\n') == [["a", None, None, None, None],
                                                           ["b", None, None, None, None]]


@pytest.mark.parametrize("text, reason", [
    (b'{"id":"a"}\n{"id":', "not valid JSON"),
    (b'{"id":"a"} {"id":"b"}', "not valid JSON"),
    (b'["a"]', "not a JSON object"),
    (b'{"id":{"nested":1}}', "nested object or array"),
    (b'{"id":"\\ud800"}', "not valid JSON"),
    (b'{"id":"a","price":1.5}\n{"id":NaN}', "not valid JSON"),
])
def test_what_only_the_sql_path_reproduces_is_refused(text, reason):
    with pytest.raises(NeedsSqlPath, match=reason):
        JsonLines(COLUMNS).convert(text)


def test_line_slices_cut_at_line_ends_and_keep_each_objects_last_line():
    pieces = [("s3://b/1", b'{"a":1}\n{"a":2}\n{"a"'), ("s3://b/1", b':3}'), ("s3://b/1", None),
              ("s3://b/2", b'{"a":4}\n'), ("s3://b/2", None)]
    assert list(line_slices(pieces, size=4)) == [b'{"a":1}', b'{"a":2}', b'{"a":3}', b'{"a":4}']
    assert b"\n".join(line_slices(pieces, size=1 << 16)) == b'{"a":1}\n{"a":2}\n{"a":3}\n{"a":4}'


def test_only_plain_column_types_take_the_fast_path():
    assert fits_fast_path(["character varying(32)", "integer", "numeric(18,6)", "boolean",
                           "timestamp without time zone"])
    assert not fits_fast_path(["text", "jsonb"])
    assert not fits_fast_path(["integer[]"])
