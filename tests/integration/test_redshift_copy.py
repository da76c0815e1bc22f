"""Redshift COPY on the stand-in: a real moto S3 over HTTP and a real PostgreSQL 16."""

from __future__ import annotations

import gzip
import json

import pytest

from emulation.redshift.connection import connect, install_bookkeeping
from emulation.redshift.copy import LoadError
from emulation.redshift.copy_options import CopyError

from .warehouse_support import MotoServer, ScratchPostgres

pytestmark = pytest.mark.embedded_only(
    reason=(
        "tests the embedded warehouse's COPY stand-in in-process, on its own scratch PostgreSQL "
        "and moto, switching its code path"
    )
)

BUCKET = "copy-test"

TABLE = """
CREATE TABLE IF NOT EXISTS public.events (
    event_id VARCHAR(32) NOT NULL ENCODE zstd,
    quantity INTEGER NOT NULL,
    invoice_date TIMESTAMP,
    unit_price DECIMAL(18, 6),
    customer_id VARCHAR(8),
    is_cancellation BOOLEAN,
    loaded_at TIMESTAMP NOT NULL DEFAULT GETDATE()
) DISTKEY (event_id) SORTKEY (invoice_date)
"""
COLUMNS = "(event_id, quantity, invoice_date, unit_price, customer_id, is_cancellation)"


def record(i: int, **overrides) -> dict:
    base = {"event_id": f"e:{i}", "quantity": i, "invoice_date": "2010-12-01T08:26:00",
            "unit_price": "2.55", "customer_id": "17850", "is_cancellation": False, "extra": "ignored"}
    base.update(overrides)
    return base


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    pg = ScratchPostgres(tmp_path_factory.mktemp("copy"))
    moto = MotoServer()
    install_bookkeeping(pg.superuser_dsn)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    yield pg, moto, s3
    moto.close()
    pg.close()


@pytest.fixture
def rs(cloud):
    pg, moto, _ = cloud
    conn = connect(pg.superuser_dsn, aws_endpoint=moto.endpoint)
    conn.execute(TABLE)
    conn.execute("TRUNCATE public.events")
    conn.execute("TRUNCATE localcloud.stl_load_errors")
    yield conn
    conn.close()


def put(s3, key: str, data: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return f"s3://{BUCKET}/{key}"


def count(rs, table="public.events") -> int:
    return rs.query(f"SELECT count(*) FROM {table}")[0][0]


def test_json_auto_gzip_loads_every_object_under_the_prefix(cloud, rs):
    s3 = cloud[2]
    put(s3, "json/a/part-1.gz", gzip.compress(jsonl(record(i) for i in range(1, 301))))
    put(s3, "json/a/part-2.gz", gzip.compress(jsonl(record(i) for i in range(301, 501))))
    put(s3, "json/b/other.gz", gzip.compress(jsonl([record(999)])))  # not under the prefix
    result = rs.execute(
        f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/json/a/' IAM_ROLE 'arn:aws:iam::123456789012:role/r' "
        "FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto'", label="t-json")
    assert result.rows == 500 and result.load_errors == 0
    assert count(rs) == 500
    row = rs.query("SELECT quantity, invoice_date::text, unit_price::text, is_cancellation FROM public.events "
                   "WHERE event_id = 'e:7'")[0]
    assert row == (7, "2010-12-01 08:26:00", "2.550000", False)
    logged = rs.query("SELECT kind, rows, succeeded FROM localcloud.statement_log WHERE label = 't-json'")
    assert logged == [("COPY", 500, True)]


def test_csv_with_header_and_nulls(cloud, rs):
    s3 = cloud[2]
    body = b"event_id,quantity,invoice_date,unit_price,customer_id,is_cancellation\n" \
           b"c:1,3,2011-01-02 10:00:00,1.5,,true\n" \
           b'"c:2",-4,2011-01-02 10:05:00,"0.001",12345,false\n'
    put(s3, "csv/one.csv", body)
    rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/csv/one.csv' IAM_ROLE 'arn:x' "
               "FORMAT AS CSV IGNOREHEADER 1")
    rows = rs.query("SELECT event_id, quantity, customer_id, unit_price::text FROM public.events ORDER BY event_id")
    assert rows == [("c:1", 3, "", "1.500000"), ("c:2", -4, "12345", "0.001000")]


def test_csv_custom_timeformat_and_emptyasnull(cloud, rs):
    s3 = cloud[2]
    put(s3, "csv2/x.csv.gz", gzip.compress(b"t:1|2|02/01/2011 10:07|3||f\n"))
    rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/csv2/' IAM_ROLE 'arn:x' CSV DELIMITER '|' "
               "GZIP TIMEFORMAT 'DD/MM/YYYY HH24:MI' EMPTYASNULL")
    assert rs.query("SELECT invoice_date::text, customer_id FROM public.events") == [("2011-01-02 10:07:00", None)]


def test_manifest_loads_listed_files_only_and_refuses_missing_mandatory(cloud, rs):
    s3 = cloud[2]
    a = put(s3, "man/data-a.gz", gzip.compress(jsonl(record(i) for i in range(1, 4))))
    put(s3, "man/data-b.gz", gzip.compress(jsonl(record(i) for i in range(4, 9))))
    manifest = {"entries": [{"url": a, "mandatory": True},
                            {"url": f"s3://{BUCKET}/man/absent.gz", "mandatory": False}]}
    m = put(s3, "manifests/ok.manifest", json.dumps(manifest).encode())
    result = rs.execute(f"COPY public.events {COLUMNS} FROM '{m}' IAM_ROLE 'arn:x' MANIFEST JSON 'auto' GZIP")
    assert result.rows == 3 and count(rs) == 3
    manifest["entries"][1]["mandatory"] = True
    bad = put(s3, "manifests/bad.manifest", json.dumps(manifest).encode())
    with pytest.raises(CopyError, match="mandatory manifest entry .*absent.gz"):
        rs.execute(f"COPY public.events {COLUMNS} FROM '{bad}' IAM_ROLE 'arn:x' MANIFEST JSON 'auto' GZIP")
    assert count(rs) == 3


def test_bad_records_are_reported_and_the_rest_loads_within_maxerror(cloud, rs):
    s3 = cloud[2]
    lines = [json.dumps(record(i)).encode() for i in range(1, 11)]
    lines[2] = json.dumps(record(3, quantity="three")).encode()          # line 3: not an integer
    lines[4] = json.dumps(record(5, customer_id="123456789")).encode()   # line 5: too long for VARCHAR(8)
    lines[6] = b'{"event_id": "e:7", "quantity": '                       # line 7: broken JSON
    lines[8] = json.dumps(record(9, event_id=None)).encode()             # line 9: NULL in NOT NULL
    put(s3, "bad/part.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/bad/' IAM_ROLE 'arn:x' "
                        "FORMAT AS JSON 'auto' GZIP MAXERROR 10", label="t-bad")
    assert (result.rows, result.load_errors) == (6, 4)
    assert sorted(r[0] for r in rs.query("SELECT event_id FROM public.events")) == \
        sorted(f"e:{i}" for i in (1, 2, 4, 6, 8, 10))
    errors = rs.query("SELECT filename, line_number, colname, err_reason, raw_line FROM localcloud.stl_load_errors "
                      "WHERE label = 't-bad' ORDER BY line_number")
    assert [(e[1], e[2]) for e in errors] == [(3, "quantity"), (5, "customer_id"), (7, ""), (9, "event_id")]
    assert all(e[0] == f"s3://{BUCKET}/bad/part.gz" for e in errors)
    assert "integer" in errors[0][3] and "too long" in errors[1][3] and "not-null" in errors[3][3]
    assert errors[2][4].startswith('{"event_id": "e:7"')


def test_default_maxerror_zero_fails_the_whole_copy_but_keeps_the_errors(cloud, rs):
    s3 = cloud[2]
    put(s3, "bad0/part.gz", gzip.compress(jsonl([record(1), record(2, quantity=1.5), record(3)])))
    with pytest.raises(LoadError, match="1 bad record"):
        rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/bad0/' IAM_ROLE 'arn:x' JSON 'auto' GZIP",
                   label="t-bad0")
    assert count(rs) == 0
    assert rs.query("SELECT line_number FROM localcloud.stl_load_errors WHERE label = 't-bad0'") == [(2,)]
    assert rs.query("SELECT succeeded FROM localcloud.statement_log WHERE label = 't-bad0'") == [(False,)]


@pytest.mark.parametrize("option", ["ACCEPTINVCHARS", "FILLRECORD", "LZOP", "ENCRYPTED"])
def test_unsupported_option_fails_naming_it(cloud, rs, option):
    with pytest.raises(CopyError, match=f"option {option} is not supported"):
        rs.execute(f"COPY public.events FROM 's3://{BUCKET}/json/a/' IAM_ROLE 'arn:x' JSON 'auto' {option}")


def test_jsonpaths_file_and_missing_prefix_fail_loudly(cloud, rs):
    with pytest.raises(CopyError, match="JSON 's3://b/paths.json' is not supported"):
        rs.execute(f"COPY public.events FROM 's3://{BUCKET}/json/a/' IAM_ROLE 'arn:x' JSON 's3://b/paths.json'")
    with pytest.raises(CopyError, match="holds no object"):
        rs.execute(f"COPY public.events FROM 's3://{BUCKET}/nothing-here/' IAM_ROLE 'arn:x' JSON 'auto'")


def test_csv_with_a_broken_line_reports_it_and_loads_the_others(cloud, rs):
    s3 = cloud[2]
    put(s3, "csv3/x.csv", b"k:1,1,2011-01-02 10:00:00,1,,true\n"
                          b"k:2,2,2011-01-02 10:00:00\n"
                          b"k:3,3,2011-01-02 10:00:00,1,,false\n")
    result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/csv3/' IAM_ROLE 'arn:x' CSV MAXERROR 1",
                        label="t-csv3")
    assert (result.rows, result.load_errors) == (2, 1)
    assert rs.query("SELECT line_number, err_code FROM localcloud.stl_load_errors WHERE label = 't-csv3'") == [(2, 1202)]


# -- the direct JSON path (emulation.redshift.copy_json) and the SQL path load the same rows -------
EDGE_RECORDS = [
    record(1, customer_id=17850),                                   # a JSON number into VARCHAR
    record(2, customer_id=0, is_cancellation="true"),               # written -0 below; "true" is a boolean
    record(3, customer_id=True, description="x"),                   # a boolean into VARCHAR: 'true'
    record(4, unit_price="BIG"),                                    # written 123456789012.123456 below
    record(5, unit_price=1e-6, quantity="12"),                      # an exponent; an integer given as a string
    {"event_id": "e:6", "quantity": 6},                             # missing keys load NULL
    record(7, customer_id=None, invoice_date="2010-12-01 08:26"),   # NULL; another timestamp spelling
    record(8, customer_id="a\tb\\c"),                               # tab and backslash stay as they are
    record(9, customer_id='q"\n\r\x01'),                            # quote, newline, CR, the fast path's quote byte
    record(10, customer_id="\x03"),                                 # the fast path's NULL placeholder byte
    record(11, customer_id="£€😀"),                                 # non-ASCII, ensure_ascii escapes and raw UTF-8
]


def load_rows(rs, s3, key: str, body: bytes, direct: bool, expected: int = len(EDGE_RECORDS)) -> list[tuple]:
    rs.direct_json = direct  # which of the two real COPY paths runs, so their rows can be compared
    try:
        rs.execute("TRUNCATE public.events")
        rs.execute("TRUNCATE localcloud.stl_load_errors")
        put(s3, key, gzip.compress(body))
        result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/{key}' IAM_ROLE 'arn:x' "
                            "FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto'")
        rows = rs.query("SELECT event_id, quantity, invoice_date, unit_price::text, customer_id, is_cancellation "
                        "FROM public.events ORDER BY event_id")
        assert result.rows == len(rows) == expected
        return rows
    finally:
        rs.direct_json = True  # the connection is shared by the module's tests


def test_direct_and_sql_paths_load_identical_rows_from_edge_values(cloud, rs, caplog):
    s3 = cloud[2]
    lines = [json.dumps(r).encode() for r in EDGE_RECORDS]
    lines[1] = lines[1].replace(b'"customer_id": 0', b'"customer_id": -0')  # -0 keeps its text
    lines[3] = lines[3].replace(b'"BIG"', b"123456789012.123456")  # 18 digits: a float would round them
    lines[10] = json.dumps(EDGE_RECORDS[10], ensure_ascii=False).encode()  # raw UTF-8 this time
    body = b"\n".join(lines[:6]) + b"\r\n\n   \n" + b"\n".join(lines[6:])  # CRLF and blank lines between
    with caplog.at_level("INFO", logger="localcloud.redshift"):
        fast = load_rows(rs, s3, "edge/fast.gz", body, True)
    assert "loading through SQL" not in caplog.text  # every edge above stays on the direct path
    assert "converting with orjson" in caplog.text  # a number into VARCHAR is not pyarrow's to load
    slow = load_rows(rs, s3, "edge/slow.gz", body, False)
    assert fast == slow
    by_id = {r[0]: r for r in fast}
    assert by_id["e:1"][4] == "17850" and by_id["e:2"][4] == "-0" and by_id["e:2"][5] is True
    assert by_id["e:3"][4] == "true"
    assert by_id["e:4"][3] == "123456789012.123456" and by_id["e:5"][3] == "0.000001" and by_id["e:5"][1] == 12
    assert by_id["e:6"][2:] == (None, None, None, None)
    assert [by_id[f"e:{i}"][4] for i in (7, 8, 9, 10, 11)] == [None, "a\tb\\c", 'q"\n\r\x01', "\x03", "£€😀"]


# Values the pyarrow conversion (emulation.redshift.copy_arrow) loads itself, each already of its column's JSON kind.
ARROW_RECORDS = [
    record(1),
    record(2, quantity=0, unit_price="0.000001"),                   # written -0 below
    record(3, unit_price="BIG", is_cancellation=True),              # written 123456789012.123456 below
    record(4, customer_id=""),                                      # an empty string is not NULL
    {"event_id": "e:5", "quantity": 5},                             # missing keys load NULL
    record(6, customer_id=None, invoice_date="2010-12-01 08:26"),   # NULL; another timestamp spelling
    record(7, customer_id='q"\n\r,\x01'),                           # quote, newline, CR, comma
    record(8, customer_id="\x03\\N"),                               # control byte, PostgreSQL's text NULL
    record(9, customer_id="£€😀"),                                 # non-ASCII
]


def test_pyarrow_and_sql_paths_load_identical_rows(cloud, rs, caplog):
    s3 = cloud[2]
    lines = [json.dumps(r).encode() for r in ARROW_RECORDS]
    lines[1] = lines[1].replace(b'"quantity": 0', b'"quantity": -0')
    lines[2] = lines[2].replace(b'"BIG"', b"123456789012.123456")  # 18 digits: a float would round them
    lines[8] = json.dumps(ARROW_RECORDS[8], ensure_ascii=False).encode()  # raw UTF-8
    body = b"\r\n".join(lines[:4]) + b"\n" + b"\n".join(lines[4:])  # CRLF is whitespace after an object
    with caplog.at_level("INFO", logger="localcloud.redshift"):
        fast = load_rows(rs, s3, "arrow/fast.gz", body, True, len(ARROW_RECORDS))
    assert "converting with orjson" not in caplog.text and "loading through SQL" not in caplog.text
    slow = load_rows(rs, s3, "arrow/slow.gz", body, False, len(ARROW_RECORDS))
    assert fast == slow
    by_id = {r[0]: r for r in fast}
    assert by_id["e:2"][1] == 0 and by_id["e:2"][3] == "0.000001" and by_id["e:3"][3] == "123456789012.123456"
    assert [by_id[f"e:{i}"][4] for i in (4, 6, 7, 8, 9)] == ["", None, 'q"\n\r,\x01', "\x03\\N", "£€😀"]


def test_a_decimal_given_as_a_json_number_keeps_every_digit_and_a_huge_integer_is_a_bad_record(cloud, rs):
    s3 = cloud[2]
    body = b'{"event_id":"d:1","quantity":1,"unit_price":999999999999.999999}\n' \
           b'{"event_id":"d:2","quantity":2,"unit_price":0.1}\n' \
           b'{"event_id":"d:3","quantity":12345678901234567890,"unit_price":1}\n'
    put(s3, "dec/part.gz", gzip.compress(body))
    result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/dec/' IAM_ROLE 'arn:x' JSON 'auto' GZIP "
                        "MAXERROR 1", label="t-dec")
    assert (result.rows, result.load_errors) == (2, 1)
    assert rs.query("SELECT unit_price::text FROM public.events ORDER BY event_id") == \
        [("999999999999.999999",), ("0.100000",)]
    assert rs.query("SELECT line_number, colname, raw_field_value FROM localcloud.stl_load_errors "
                    "WHERE label = 't-dec'") == [(3, "quantity", "12345678901234567890")]


def test_json_auto_matches_keys_case_sensitively_as_redshift(cloud, rs):
    """Redshift's 'auto' matches lower-case column names exactly ('auto ignorecase' is the other option):
    `Event_ID` is not `event_id`, so the NOT NULL column gets NULL and the record is reported."""
    s3 = cloud[2]
    put(s3, "case/part.gz", gzip.compress(jsonl([record(1), {"Event_ID": "e:2", "quantity": 2},
                                                 record(3, Quantity=99)])))
    result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/case/' IAM_ROLE 'arn:x' JSON 'auto' GZIP "
                        "MAXERROR 1", label="t-case")
    assert (result.rows, result.load_errors) == (2, 1)
    assert rs.query("SELECT event_id, quantity FROM public.events ORDER BY event_id") == [("e:1", 1), ("e:3", 3)]
    assert rs.query("SELECT line_number, colname FROM localcloud.stl_load_errors WHERE label = 't-case'") == \
        [(2, "event_id")]


def test_clean_json_takes_the_direct_path_and_a_nested_value_the_sql_path(cloud, rs, caplog):
    s3 = cloud[2]
    put(s3, "path/clean.gz", gzip.compress(jsonl(record(i) for i in range(1, 51))))
    put(s3, "path2/nested.gz", gzip.compress(jsonl([record(1, customer_id={"id": [1, 2]})])))
    with caplog.at_level("INFO", logger="localcloud.redshift"):
        rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/path/' IAM_ROLE 'arn:x' JSON 'auto' GZIP")
        assert "loading through SQL" not in caplog.text
        rs.execute("ALTER TABLE public.events ALTER COLUMN customer_id TYPE VARCHAR(32)")
        try:
            rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/path2/' IAM_ROLE 'arn:x' JSON 'auto' GZIP")
        finally:
            nested = rs.query("SELECT customer_id FROM public.events WHERE customer_id LIKE '{%'")
            rs.execute("DELETE FROM public.events WHERE customer_id LIKE '{%'")
            rs.execute("ALTER TABLE public.events ALTER COLUMN customer_id TYPE VARCHAR(8)")
    assert "nested object or array" in caplog.text
    assert nested == [('{"id": [1, 2]}',)]  # the nested value's JSON text, as written
    assert count(rs) == 50


def test_a_line_that_is_not_utf8_leaves_the_direct_path_and_is_reported(cloud, rs):
    s3 = cloud[2]
    body = jsonl([record(1)]) + b'{"event_id": "e:2", "quantity": 2, "customer_id": "\xa3"}\n' + jsonl([record(3)])
    put(s3, "latin1/part.gz", gzip.compress(body))
    result = rs.execute(f"COPY public.events {COLUMNS} FROM 's3://{BUCKET}/latin1/' IAM_ROLE 'arn:x' JSON 'auto' "
                        "GZIP MAXERROR 1", label="t-latin1")
    assert (result.rows, result.load_errors) == (2, 1)
    assert rs.query("SELECT line_number, err_code FROM localcloud.stl_load_errors WHERE label = 't-latin1'") == \
        [(2, 1220)]
