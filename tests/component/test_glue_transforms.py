"""The batch job's pure transforms on local Spark: mapping, null policy, quarantine reasons, dedupe."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest

# `make install`, and so CI, installs the [local] extra: there a missing pyspark is an error, not
# a skip; only an install without the extra skips these tests.
if os.environ.get("CI"):
    import pyspark
else:
    pyspark = pytest.importorskip("pyspark", reason="pyspark is in the [local] extra")

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from pipeline.glue import transforms

pytestmark = pytest.mark.spark

RAW_SCHEMA = StructType(
    [StructField(name, StringType()) for name in transforms.ARCHIVE_FIELDS]
    + [StructField("event_date", StringType())]
)


@pytest.fixture(scope="module")
def spark():
    # Shared with the other Spark unit tests of this process (getOrCreate); stopped at exit.
    return (SparkSession.builder.master("local[1]").appName("unit-glue")
            .config("spark.sql.shuffle.partitions", "1").config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC").getOrCreate())


def line(n: int = 1, **overrides) -> dict:
    base = {
        "event_id": f"0123456789abcdef:{n}", "invoice_no": "536365", "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": "6",
        "invoice_date": "2010-12-01T08:26:00", "unit_price": "2.55", "customer_id": "17850",
        "country": "United Kingdom", "line_total": "15.30", "is_cancellation": "false",
        "event_date": "2010-12-01",
    }
    base.update(overrides)
    return base


def frame(spark, *lines):
    return spark.createDataFrame([tuple(x.get(f) for f in RAW_SCHEMA.names) for x in lines],
                                 RAW_SCHEMA)


def typed_rows(spark, *lines):
    return {r["event_id"]: r for r in transforms.type_sales(frame(spark, *lines)).collect()}


def test_a_good_line_is_typed_exactly(spark):
    row = typed_rows(spark, line())["0123456789abcdef:1"]
    assert row["reject_reason"] is None
    assert row["quantity"] == 6
    assert row["unit_price"] == Decimal("2.550000")
    assert row["line_total"] == Decimal("15.300000")
    assert str(row["invoice_date"]) == "2010-12-01 08:26:00"
    assert row["customer_id"] == "17850"
    assert row["is_cancellation"] is False


def test_real_nulls_stay_null_and_are_not_rejected(spark):
    row = typed_rows(spark, line(customer_id=None, description=None))["0123456789abcdef:1"]
    assert row["reject_reason"] is None
    assert row["customer_id"] is None  # a guest sale, not customer 0
    assert row["description"] is None  # not 'NA', not ''


def test_cancellations_zero_and_negative_prices_are_valid_sales(spark):
    rows = typed_rows(
        spark,
        line(1, invoice_no="C536379", quantity="-1", unit_price="27.5", line_total="-27.5",
             is_cancellation="true"),
        line(2, unit_price="0", line_total="0"),
        line(3, invoice_no="A563185", quantity="1", unit_price="-11062.06",
             line_total="-11062.06"),
        line(4, unit_price="0.001", quantity="12", line_total="0.012"),
    )
    assert [rows[f"0123456789abcdef:{n}"]["reject_reason"] for n in (1, 2, 3, 4)] == [None] * 4
    assert rows["0123456789abcdef:1"]["is_cancellation"] is True
    assert rows["0123456789abcdef:3"]["line_total"] == Decimal("-11062.060000")
    assert rows["0123456789abcdef:4"]["line_total"] == Decimal("0.012000")


BAD_LINES = [
    ({"quantity": "six"}, "quantity is not an integer"),
    ({"quantity": "6.5"}, "quantity is not an integer"),
    ({"quantity": "99999999999"}, "quantity is not an integer"),
    ({"invoice_date": "12/1/2010 8:26"}, "invoice_date is not a date-time"),
    ({"invoice_date": "2010-13-01T08:26:00"}, "invoice_date is not a date-time"),
    # The event model's range and calendar (pipeline.dates), in Spark's Java regex dialect too.
    ({"invoice_date": "0010-06-15T00:00:00"}, "in 2000-01-01T00:00:00..2099-12-31T23:59:59"),
    ({"invoice_date": "1999-12-31T23:59:59"}, "invoice_date is not a date-time"),
    ({"invoice_date": "2011-02-29T00:00:00"}, "invoice_date is not a date-time"),
    ({"invoice_date": "2010-12-01T08:26:00\n"}, "invoice_date is not a date-time"),
    ({"unit_price": "2.5500001", "line_total": None}, "unit_price is not an exact"),
    ({"unit_price": "2.55e0"}, "unit_price is not an exact"),
    ({"customer_id": "17850.0"}, "customer_id is not digits"),
    ({"line_total": "15.31"}, "line_total != quantity * unit_price"),
    ({"is_cancellation": "true"}, "is_cancellation disagrees"),
    ({"country": " "}, "country is missing"),
    ({"stock_code": "X" * 129}, "stock_code is longer than 128"),
]


def test_untypable_lines_are_rejected_with_the_reason(spark):
    # One frame for every case: a Spark job per case would cost seconds each on a shared box.
    lines = [line(n, **overrides) for n, (overrides, _) in enumerate(BAD_LINES, start=1)]
    typed = transforms.type_sales(frame(spark, *lines, line(99))).cache()
    rejected = {r["event_id"]: r for r in transforms.rejected_lines(typed).collect()}
    assert [r["event_id"] for r in transforms.valid_sales(typed).collect()] == [
        "0123456789abcdef:99"
    ]
    for n, (overrides, reason) in enumerate(BAD_LINES, start=1):
        row = rejected[f"0123456789abcdef:{n}"]
        assert reason in row["reason"], (overrides, row["reason"])
        raw = json.loads(row["raw_record"])
        for key, value in overrides.items():  # the line is kept verbatim
            assert raw.get(key) == value


def test_a_line_without_event_id_is_rejected(spark):
    (row,) = transforms.rejected_lines(
        transforms.type_sales(frame(spark, line(event_id=None)))
    ).collect()
    assert "event_id is missing" in row["reason"] and row["event_id"] is None


def test_several_reasons_are_all_named(spark):
    typed = transforms.type_sales(frame(spark, line(quantity="x", unit_price="y")))
    (row,) = transforms.rejected_lines(typed).collect()
    assert "quantity is not an integer" in row["reason"]
    assert "unit_price is not an exact" in row["reason"]


def test_valid_sales_has_the_warehouse_columns(spark):
    sales = transforms.valid_sales(transforms.type_sales(frame(spark, line())))
    assert tuple(sales.columns) == transforms.SALES_COLUMNS
    types = dict(sales.dtypes)
    assert types["unit_price"] == "decimal(18,6)" and types["line_total"] == "decimal(38,6)"
    assert types["quantity"] == "int" and types["invoice_date"] == "timestamp"


def test_dedupe_keeps_one_copy_per_event_id_and_every_distinct_event(spark):
    archived_twice = line(1)
    same_content_other_line = line(2)  # an exact duplicate line in the source: a distinct sale
    sales = transforms.valid_sales(
        transforms.type_sales(frame(spark, archived_twice, archived_twice, same_content_other_line))
    )
    deduped = transforms.dedupe_events(sales)
    assert sorted(r["event_id"] for r in deduped.collect()) == [
        "0123456789abcdef:1", "0123456789abcdef:2"
    ]
    assert deduped.columns == sales.columns


def test_numeric_and_boolean_inputs_are_typed_like_text(spark):
    df = spark.createDataFrame(
        [("e:1", "536365", "X", None, 6, "2010-12-01T08:26:00", "2.55", None, "UK", "15.30", False)],
        "event_id string, invoice_no string, stock_code string, description string, "
        "quantity long, invoice_date string, unit_price string, customer_id string, "
        "country string, line_total string, is_cancellation boolean",
    )
    (row,) = transforms.type_sales(df).collect()
    assert row["reject_reason"] is None and row["quantity"] == 6


def test_unreadable_records_become_quarantine_rows(spark):
    errors = spark.createDataFrame(
        [("s3://b/raw/x.json.gz", "line is not a JSON object", "{not json"),
         ("s3://b/raw/y.json.gz", "corrupt gzip object (bad crc)", None)],
        "source string, error string, raw string",
    )
    rows = {r["source_object"]: r for r in transforms.unreadable_records(errors).collect()}
    assert rows["s3://b/raw/x.json.gz"]["reason"] == "unreadable record: line is not a JSON object"
    assert json.loads(rows["s3://b/raw/x.json.gz"]["raw_record"])["raw"] == "{not json"
    assert "corrupt gzip" in rows["s3://b/raw/y.json.gz"]["reason"]
    assert rows["s3://b/raw/y.json.gz"]["event_id"] is None


def test_missing_archive_columns_fail_with_their_names(spark):
    with pytest.raises(ValueError, match="quantity"):
        transforms.type_sales(frame(spark, line()).drop("quantity"))


def test_partition_predicate():
    assert transforms.partition_predicate(None, None) == ""
    assert transforms.partition_predicate("2010-12-01", "2010-12-31") == (
        "event_date >= '2010-12-01' and event_date <= '2010-12-31'"
    )
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        transforms.partition_predicate("2010-12-01' or 1=1 --", None)


def test_spark_types_exactly_the_dates_the_event_model_accepts(spark):
    """The job's check runs the event model's pattern in Java's regex dialect: on every calendar
    cell of a leap and a common year inside the range, the years either side of it, and strings
    with a trailing newline or a space, Spark keeps exactly the dates `pipeline.dates` accepts
    (and types them to the same wall-clock time)."""
    from pipeline.dates import is_invoice_date

    candidates = [
        f"{year}-{month:02d}-{day:02d}T{time}"
        for year in ("0010", "1999", "2000", "2011", "2096", "2099", "2100")
        for month in range(14)
        for day in range(33)
        for time in ("23:59:59",)
    ] + ["2010-12-01T08:26:00\n", "2010-12-01T08:26:00 ", "2010-12-01T24:00:00",
         "2010-12-01T08:60:00", "2010-12-01T08:26:60", "2011-03-27T01:30:00"]
    lines = [line(n, invoice_date=text) for n, text in enumerate(candidates, start=1)]
    rows = {r["event_id"]: r for r in transforms.type_sales(frame(spark, *lines)).collect()}
    for n, text in enumerate(candidates, start=1):
        row = rows[f"0123456789abcdef:{n}"]
        accepted = row["reject_reason"] is None
        assert accepted == is_invoice_date(text), (text, row["reject_reason"])
        if accepted:
            assert row["invoice_date"].isoformat() == text
