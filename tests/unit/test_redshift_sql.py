"""The warehouse schema is Redshift SQL, and its reduction for PostgreSQL is mechanical."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from emulation.config import REPO_ROOT
from emulation.redshift.copy_options import CopyError, parse_copy
from emulation.redshift.dialect import RedshiftSqlError, parse, reduce_script, to_postgres
from pipeline.resources import PIPELINE

SCHEMA = (REPO_ROOT / "pipeline/warehouse/schema.sql").read_text()
REDSHIFT_ONLY = ("DISTKEY", "SORTKEY", "DISTSTYLE", "ENCODE", "BACKUP", "GETDATE")


def test_every_statement_parses_as_redshift():
    statements = parse(SCHEMA)
    assert len(statements) == 14
    for statement in statements:
        again = sqlglot.parse_one(statement.redshift, read="redshift")  # round trip stays Redshift
        assert again is not None


def test_schema_is_idempotent_by_construction():
    for statement in parse(SCHEMA):
        tree = statement.tree
        assert isinstance(tree, exp.Create), statement.redshift
        if tree.kind in ("TABLE", "SCHEMA"):
            assert tree.args.get("exists"), f"needs IF NOT EXISTS: {statement.redshift[:60]}"
        else:
            assert tree.kind == "VIEW" and tree.args.get("replace"), statement.redshift[:60]


def test_firehose_table_has_exactly_the_delivery_columns_plus_loaded_at():
    firehose = PIPELINE.firehoses[0]
    table = next(s.tree for s in parse(SCHEMA) if s.tree.kind == "TABLE" and
                 s.tree.this.this.sql() == "stream.sales_events")
    columns = [c.name for c in table.find_all(exp.ColumnDef)]
    assert columns == [*firehose.columns, "loaded_at"]


def test_batch_tables_keep_the_names_the_glue_job_uses():
    tables = {s.tree.this.this.sql() for s in parse(SCHEMA) if s.tree.kind == "TABLE"}
    job = PIPELINE.glue_jobs[0].default_arguments
    assert {job["--TARGET_TABLE"], job["--QUARANTINE_TABLE"], "analytics.sales_staging"} <= tables


def test_reduction_strips_physical_design_and_translates_getdate():
    reduced = reduce_script(SCHEMA)
    assert len(reduced) == 14
    for sql in reduced:
        upper = sql.upper()
        assert not any(word in upper for word in REDSHIFT_ONLY), sql[:120]
    assert "DEFAULT CURRENT_TIMESTAMP" in next(s for s in reduced if "stream.sales_events (" in s)


def test_reduction_keeps_keys_and_types():
    sql = to_postgres("CREATE TABLE IF NOT EXISTS a.t (id VARCHAR(32) NOT NULL ENCODE zstd, n DECIMAL(18, 6), "
                      "PRIMARY KEY (id)) DISTSTYLE KEY DISTKEY (id) COMPOUND SORTKEY (n) BACKUP NO")
    assert sql == ("CREATE TABLE IF NOT EXISTS a.t (id VARCHAR(32) NOT NULL, n DECIMAL(18, 6), "
                   "PRIMARY KEY (id))")


def test_merge_passes_through():
    sql = to_postgres("MERGE INTO analytics.sales USING analytics.sales_staging s ON sales.event_id = s.event_id "
                      "WHEN NOT MATCHED THEN INSERT (event_id) VALUES (s.event_id)")
    assert sql.startswith("MERGE INTO analytics.sales USING analytics.sales_staging AS s")


def test_invalid_sql_is_refused_with_the_parser_message():
    with pytest.raises(RedshiftSqlError, match="not valid Redshift SQL"):
        parse("CREATE TABLE (")
    with pytest.raises(RedshiftSqlError, match="COPY is run by"):
        to_postgres("COPY t FROM 's3://b/k' IAM_ROLE 'r' JSON 'auto'")


def test_the_firehose_copy_options_are_ones_the_stand_in_supports():
    for firehose in PIPELINE.firehoses:
        cmd = parse_copy(f"COPY {firehose.table} ({', '.join(firehose.columns)}) FROM 's3://b/m' "
                         f"IAM_ROLE 'arn:aws:iam::123456789012:role/r' MANIFEST {firehose.copy_options}")
        assert (cmd.format, cmd.gzip, cmd.manifest, cmd.time_format) == ("JSON", True, True, "auto")
        assert cmd.max_error > 0  # a stray bad record is reported, the rest of the buffer loads


@pytest.mark.parametrize("sql,message", [
    ("COPY t FROM 'https://x/y' IAM_ROLE 'r' JSON 'auto'", "s3:// only"),
    ("COPY t FROM 's3://b/k' IAM_ROLE 'r' JSON 'auto' MAXERROR 100001", "0..100000"),
    ("COPY t FROM 's3://b/k' IAM_ROLE 'r' FORMAT AS PARQUET", "FORMAT PARQUET is not supported"),
    ("COPY t FROM 's3://b/k' IAM_ROLE 'r' JSON 'auto' BZIP2", "option BZIP2 is not supported"),
    ("COPY t (a, b FROM 's3://b/k'", "bad column list"),
])
def test_copy_parser_refuses_with_a_message_naming_the_problem(sql, message):
    with pytest.raises(CopyError, match=message):
        parse_copy(sql)


def test_copy_parser_reads_csv_options():
    cmd = parse_copy("copy s.t (a, b) from 's3://b/k' credentials 'aws_access_key_id=x;aws_secret_access_key=y' "
                     "format as csv quote as '''' delimiter ';' ignoreheader 1 null as 'NA' emptyasnull "
                     "dateformat 'auto' compupdate off region 'us-east-1'")
    assert (cmd.table, cmd.columns, cmd.format, cmd.quote, cmd.delimiter, cmd.ignore_header, cmd.null_as,
            cmd.empty_as_null, cmd.region) == ("s.t", ("a", "b"), "CSV", "'", ";", 1, "NA", True, "us-east-1")
