"""The batch path's transformations: archive lines (as read) -> typed sales rows + quarantine rows.

Pure DataFrame -> DataFrame functions, no I/O and no Glue API, so they are unit-tested on a plain
`local[1]` Spark session and run unchanged inside the Glue job. The null and type policy they
implement is documented in docs/batch.md:

- A real null stays NULL: a missing customer_id is a guest sale, a missing description is unknown.
  Nothing is filled with 'NA', '' or 0.
- Every value is typed strictly: a value that cannot be typed exactly (an integer that is not an
  integer, money with more fraction digits than the column keeps, a timestamp that is not a
  timestamp) sends the whole line to the quarantine with the reason; it is never rounded, nulled
  or dropped silently.
- Exact duplicate *lines* in the source have distinct event_ids and stay. A line archived twice
  (the archiver retried) has the same event_id twice and is loaded once.

The column types follow the warehouse schema (pipeline/warehouse/schema.sql): unit_price
DECIMAL(18,6), line_total DECIMAL(38,6), quantity INTEGER, invoice_date TIMESTAMP, customer_id the
digits as VARCHAR(16).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from pipeline.dates import INVOICE_DATE_PATTERN, RANGE_TEXT
from pipeline.fields import EVENT_FIELDS, RECORD_FIELDS

# The archive line's fields (the Data Catalog table's columns), in wire order.
ARCHIVE_FIELDS = RECORD_FIELDS
PARTITION_FIELD = "event_date"

UNIT_PRICE_TYPE = DecimalType(18, 6)
LINE_TOTAL_TYPE = DecimalType(38, 6)
INT_MAX = 2_147_483_647

# (source name, source type, target name, target type) for ApplyMapping: the typed frame onto the
# columns of analytics.sales. loaded_at is left to the table's default.
SALES_MAPPING = (
    ("event_id", "string", "event_id", "string"),
    ("invoice_no", "string", "invoice_no", "string"),
    ("stock_code", "string", "stock_code", "string"),
    ("description", "string", "description", "string"),
    ("quantity", "int", "quantity", "int"),
    ("invoice_date", "timestamp", "invoice_date", "timestamp"),
    ("unit_price", "decimal(18,6)", "unit_price", "decimal(18,6)"),
    ("customer_id", "string", "customer_id", "string"),
    ("country", "string", "country", "string"),
    ("line_total", "decimal(38,6)", "line_total", "decimal(38,6)"),
    ("is_cancellation", "boolean", "is_cancellation", "boolean"),
)
SALES_COLUMNS = tuple(target for _, _, target, _ in SALES_MAPPING)
QUARANTINE_COLUMNS = ("event_id", "raw_record", "reason", "source_object")

# Text limits of the warehouse columns (VARCHAR lengths in schema.sql).
_MAX_LENGTH = {
    "event_id": 32,
    "invoice_no": 16,
    "stock_code": 128,
    "description": 1024,
    "customer_id": 16,
    "country": 256,
}
_REQUIRED = (
    "event_id",
    "invoice_no",
    "stock_code",
    "quantity",
    "invoice_date",
    "unit_price",
    "country",
)

_INTEGER = r"^-?[0-9]{1,10}$"
_DECIMAL = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"  # plain notation: no exponent, no '+'
_DIGITS = r"^[0-9]{1,16}$"
_BOOLEAN = r"^(true|false)$"


def _text(name: str) -> Column:
    """The raw value as text, whatever type the reader gave it (string, long, boolean, choice)."""
    return F.col(name).cast("string")


def _exact_decimal(text: Column, target: DecimalType) -> tuple[Column, Column]:
    """(typed value, ok) where ok is false when the text is not plain decimal notation or when
    the value would be rounded or overflow in `target` (Spark would round or null silently)."""
    wide = text.cast(DecimalType(38, 18))
    typed = text.cast(target)
    ok = (
        text.rlike(_DECIMAL)
        & wide.isNotNull()
        & typed.isNotNull()
        & (typed.cast(DecimalType(38, 18)) == wide)
    )
    return typed, ok


def type_sales(raw: DataFrame) -> DataFrame:
    """Add the typed columns and `reject_reason` (NULL when the line is good) to archive lines.

    `raw` has the archive fields (any scalar type) and may lack line_total / is_cancellation, which
    are then derived. Output columns: SALES_COLUMNS + raw_record + reject_reason.
    """
    present = set(raw.columns)
    missing = [f for f in EVENT_FIELDS if f not in present]
    if missing:
        raise ValueError(f"archive lines lack the column(s) {missing}: is this the sales archive?")

    t = {name: _text(name) for name in ARCHIVE_FIELDS if name in present}
    quantity_long = F.when(t["quantity"].rlike(_INTEGER), t["quantity"].cast("long"))
    quantity_ok = quantity_long.isNotNull() & (F.abs(quantity_long) <= INT_MAX)
    invoice_ts = F.when(
        # The event model's own rule (pipeline.dates): a real date-time in the accepted range.
        t["invoice_date"].rlike(INVOICE_DATE_PATTERN),
        F.to_timestamp(t["invoice_date"], "yyyy-MM-dd'T'HH:mm:ss"),
    )
    unit_price, unit_price_ok = _exact_decimal(t["unit_price"], UNIT_PRICE_TYPE)
    computed_total = (quantity_long.cast(DecimalType(20, 0)) * unit_price).cast(LINE_TOTAL_TYPE)
    if "line_total" in present:
        given_total, given_ok = _exact_decimal(t["line_total"], LINE_TOTAL_TYPE)
        total_agrees = t["line_total"].isNull() | (given_ok & (given_total == computed_total))
    else:
        total_agrees = F.lit(True)
    derived_cancel = t["invoice_no"].startswith("C")
    if "is_cancellation" in present:
        given_cancel = F.lower(t["is_cancellation"])
        cancel_ok = given_cancel.isNull() | (
            given_cancel.rlike(_BOOLEAN) & ((given_cancel == "true") == derived_cancel)
        )
    else:
        cancel_ok = F.lit(True)

    checks: list[tuple[Column, str]] = [
        (t[name].isNull() | (F.trim(t[name]) == ""), f"{name} is missing") for name in _REQUIRED
    ]
    checks += [
        (t["quantity"].isNotNull() & ~quantity_ok, "quantity is not an integer in INTEGER range"),
        (
            t["invoice_date"].isNotNull() & invoice_ts.isNull(),
            f"invoice_date is not a date-time 'YYYY-MM-DDTHH:MM:SS' in {RANGE_TEXT}",
        ),
        (
            t["unit_price"].isNotNull() & ~unit_price_ok,
            "unit_price is not an exact DECIMAL(18,6) (rounding or overflow refused)",
        ),
        (
            t["customer_id"].isNotNull() & ~t["customer_id"].rlike(_DIGITS),
            "customer_id is not digits",
        ),
        (
            quantity_ok & unit_price_ok & computed_total.isNull(),
            "line_total overflows DECIMAL(38,6)",
        ),
        (quantity_ok & unit_price_ok & ~total_agrees, "line_total != quantity * unit_price"),
        (t["invoice_no"].isNotNull() & ~cancel_ok, "is_cancellation disagrees with invoice_no"),
    ]
    checks += [
        (F.length(t[name]) > limit, f"{name} is longer than {limit} characters")
        for name, limit in _MAX_LENGTH.items()
    ]
    reasons = F.concat_ws("; ", *[F.when(failed, F.lit(reason)) for failed, reason in checks])

    raw_fields = [F.col(c) for c in raw.columns if c in ARCHIVE_FIELDS or c == PARTITION_FIELD]
    return raw.select(
        t["event_id"].alias("event_id"),
        t["invoice_no"].alias("invoice_no"),
        t["stock_code"].alias("stock_code"),
        t["description"].alias("description"),
        F.when(quantity_ok, quantity_long.cast("int")).alias("quantity"),
        invoice_ts.alias("invoice_date"),
        F.when(unit_price_ok, unit_price).alias("unit_price"),
        t["customer_id"].alias("customer_id"),
        t["country"].alias("country"),
        computed_total.alias("line_total"),
        derived_cancel.alias("is_cancellation"),
        # Only rejected lines need these: not computed (nor cached) for the good ones.
        F.when(reasons != "", F.to_json(F.struct(*raw_fields))).alias("raw_record"),
        F.when(reasons != "", source_object()).alias("source_object"),
        F.when(reasons != "", reasons).alias("reject_reason"),
    )


def source_object() -> Column:
    """The S3 object a row was read from (empty when the reader does not say)."""
    return F.input_file_name()


def valid_sales(typed: DataFrame) -> DataFrame:
    """The good lines, with exactly the columns of analytics.sales (minus loaded_at)."""
    return typed.where(F.col("reject_reason").isNull()).select(*SALES_COLUMNS)


def rejected_lines(typed: DataFrame) -> DataFrame:
    """The lines that failed the policy, as analytics.sales_quarantine rows."""
    return typed.where(F.col("reject_reason").isNotNull()).select(
        F.col("event_id"),
        F.col("raw_record"),
        F.col("reject_reason").alias("reason"),
        _known_source(F.col("source_object")),
    )


def unreadable_records(errors: DataFrame) -> DataFrame:
    """Quarantine rows for records the reader could not parse (not JSON, corrupt gzip object).

    `errors` is the reader's error frame, whatever its columns: the whole error record is kept as
    raw_record so nothing the reader knew is lost. A `source`/`error` column is used when present.
    """
    cols = set(errors.columns)
    raw = F.to_json(F.struct(*[F.col(c) for c in errors.columns]))
    reason = (
        F.concat(F.lit("unreadable record: "), F.col("error"))
        if "error" in cols
        else F.lit("unreadable record")
    )
    source = F.col("source") if "source" in cols else F.lit(None).cast("string")
    return errors.select(
        F.lit(None).cast("string").alias("event_id"),
        raw.alias("raw_record"),
        F.substring(reason, 1, 1024).alias("reason"),
        _known_source(source),
    )


def _known_source(source: Column) -> Column:
    # source_object is NOT NULL in the warehouse: say so instead of inventing a path.
    return F.coalesce(F.when(source != "", source), F.lit("unknown")).alias("source_object")


def dedupe_events(sales: DataFrame) -> DataFrame:
    """One row per event_id: an event archived twice (a retried archive batch) loads once.

    Lines with equal content but distinct event_ids are distinct sales and all stay. Copies of one
    event_id are the same Kinesis record written twice, so any copy is the event.
    """
    return sales.dropDuplicates(["event_id"])


def partition_predicate(from_date: str | None, to_date: str | None) -> str:
    """The push-down predicate on the archive's event_date partitions ('' = every partition)."""
    import re

    parts = []
    for bound, op in ((from_date, ">="), (to_date, "<=")):
        if bound:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", bound):
                raise ValueError(f"date bound {bound!r} must look like YYYY-MM-DD")
            parts.append(f"{PARTITION_FIELD} {op} '{bound}'")
    return " and ".join(parts)
