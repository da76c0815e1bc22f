"""glue_local's awsglue surface: getResolvedOptions semantics, DynamicFrame ops, transforms, bookmarks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# `make install`, and so CI, installs the [local] extra: there a missing pyspark is an error, not
# a skip; only an install without the extra skips these tests.
if os.environ.get("CI"):
    import pyspark
else:
    pyspark = pytest.importorskip("pyspark", reason="pyspark is in the [local] extra")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "glue_local"))

from awsglue._redshift_sink import split_statements
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.transforms import (
    ApplyMapping,
    DropFields,
    DropNullFields,
    Filter,
    RenameField,
    ResolveChoice,
    SelectFields,
)
from awsglue.utils import GlueArgumentError, getResolvedOptions
from pyspark.sql import SparkSession


# ---------------------------------------------------------------------------- getResolvedOptions
def test_resolved_options_reads_named_arguments_and_ignores_others():
    argv = ["script.py", "--JOB_NAME", "j", "--DATABASE", "db", "--extra", "x",
            "--TempDir", "s3://b/tmp/"]
    args = getResolvedOptions(argv, ["JOB_NAME", "DATABASE"])
    assert args["JOB_NAME"] == "j" and args["DATABASE"] == "db"
    assert args["TempDir"] == args["RedshiftTempDir"] == "s3://b/tmp/"
    assert args["job_bookmark_option"] == "job-bookmark-disable"  # Glue's default
    assert "extra" not in args


def test_missing_required_argument_raises_like_glue():
    with pytest.raises(GlueArgumentError, match="the following arguments are required: --TABLE"):
        getResolvedOptions(["script.py", "--JOB_NAME", "j"], ["JOB_NAME", "TABLE"])


def test_reserved_arguments_cannot_be_requested():
    with pytest.raises(RuntimeError, match="reserved"):
        getResolvedOptions(["script.py"], ["job-bookmark-option"])
    with pytest.raises(RuntimeError, match="reserved"):
        getResolvedOptions(["script.py"], ["JOB_RUN_ID"])


def test_bookmark_option_is_validated_and_tempdir_never_required():
    args = getResolvedOptions(["s.py", "--job-bookmark-option", "job-bookmark-enable"], ["TempDir"])
    assert args["job_bookmark_option"] == "job-bookmark-enable" and args["TempDir"] is None
    with pytest.raises(GlueArgumentError, match="invalid choice"):
        getResolvedOptions(["s.py", "--job-bookmark-option", "on"], [])


# ---------------------------------------------------------------------------- DynamicFrame
@pytest.fixture(scope="module")
def glue_context():
    spark = (SparkSession.builder.master("local[1]").appName("unit-glue")
             .config("spark.sql.shuffle.partitions", "1").config("spark.ui.enabled", "false")
             .getOrCreate())
    return GlueContext(spark.sparkContext)


@pytest.fixture(scope="module")
def people(glue_context):
    df = glue_context.spark_session.createDataFrame(
        [("1", "ann", None, "6"), ("2", None, None, "x"), ("3", "cy", None, "7")],
        "id string, name string, nothing string, qty string",
    )
    return DynamicFrame(df, glue_context, "people", choices={"qty": "bigint"})


def test_drop_null_fields_drops_all_null_columns_not_rows(people):
    result = DropNullFields.apply(frame=people)
    assert result.toDF().columns == ["id", "name", "qty"]  # `nothing` is null everywhere
    assert result.count() == 3  # the row with a null name stays


def test_apply_mapping_renames_casts_and_keeps_only_mapped_fields(people):
    mapped = ApplyMapping.apply(frame=people, mappings=[
        ("id", "string", "person_id", "int"), ("name", "string", "name", "string"),
        ("missing", "string", "missing", "string"),
    ])
    assert mapped.toDF().columns == ["person_id", "name"]
    assert dict(mapped.toDF().dtypes)["person_id"] == "int"
    assert sorted(r["person_id"] for r in mapped.toDF().collect()) == [1, 2, 3]
    with pytest.raises(ValueError, match="source, source_type, target, target_type"):
        ApplyMapping.apply(frame=people, mappings=[("id", "int")])


def test_resolve_choice_cast_and_make_cols(people):
    assert people.choices == {"qty": "bigint"}
    as_text = ResolveChoice.apply(people, choice="cast:string")
    assert as_text.choices == {} and dict(as_text.toDF().dtypes)["qty"] == "string"
    split = ResolveChoice.apply(people, specs=[("qty", "make_cols")])
    rows = {r["id"]: r for r in split.toDF().collect()}
    assert rows["1"]["qty_bigint"] == 6 and rows["1"]["qty_string"] is None
    assert rows["2"]["qty_bigint"] is None and rows["2"]["qty_string"] == "x"
    with pytest.raises(ValueError, match="expected cast"):
        ResolveChoice.apply(people, specs=[("qty", "explode")])
    with pytest.raises(ValueError, match="no field"):
        ResolveChoice.apply(people, specs=[("nope", "cast:long")])


def test_field_transforms_and_filter(people):
    assert DropFields.apply(people, ["nothing", "qty"]).toDF().columns == ["id", "name"]
    assert SelectFields.apply(people, ["name"]).toDF().columns == ["name"]
    assert "full_name" in RenameField.apply(people, "name", "full_name").toDF().columns
    kept = Filter.apply(frame=people, f=lambda rec: rec["name"] is not None)
    assert sorted(r["id"] for r in kept.toDF().collect()) == ["1", "3"]


def test_a_frame_without_reader_errors_has_none(people):
    assert people.errorsCount() == 0
    assert people.errorsAsDynamicFrame().count() == 0


# ---------------------------------------------------------------------------- Job bookmarks
def test_bookmarks_persist_only_on_commit_with_enable(glue_context, tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_LOCAL_STATE_DIR", str(tmp_path))
    job = Job(glue_context)
    job.init("nightly", {"job_bookmark_option": "job-bookmark-enable"})
    glue_context._bookmarks.record("read", {"s3://b/k1": "e1"})
    assert not (tmp_path / "bookmarks" / "nightly.json").exists()
    job.commit()
    again = Job(glue_context)
    again.init("nightly", {"job_bookmark_option": "job-bookmark-enable"})
    assert glue_context._bookmarks.seen("read") == {"s3://b/k1": "e1"}
    assert glue_context._bookmarks.seen("") == {}  # no transformation_ctx, no bookmark

    paused = Job(glue_context)
    paused.init("nightly", {"job_bookmark_option": "job-bookmark-pause"})
    glue_context._bookmarks.record("read", {"s3://b/k2": "e2"})
    paused.commit()
    disabled = Job(glue_context)
    disabled.init("nightly", {"job_bookmark_option": "job-bookmark-disable"})
    assert glue_context._bookmarks.seen("read") == {}  # disable reads everything
    assert '"s3://b/k2"' not in (tmp_path / "bookmarks" / "nightly.json").read_text()


def test_commit_before_init_is_an_error(glue_context):
    with pytest.raises(RuntimeError, match="before Job.init"):
        Job(glue_context).commit()


def test_actions_are_split_on_semicolons_outside_quotes():
    assert split_statements("TRUNCATE a; INSERT INTO a VALUES ('x;y');;") == [
        "TRUNCATE a", "INSERT INTO a VALUES ('x;y')"
    ]


def test_actions_are_not_split_inside_comments_or_quoted_names_and_keep_their_text():
    sql = ('DELETE FROM "odd;name" WHERE note = \'it\'\'s; fine\'; -- the merge; then the drop\n'
           "INSERT INTO a SELECT * FROM b;\n-- nothing after this; a comment alone\n")
    assert split_statements(sql) == [
        'DELETE FROM "odd;name" WHERE note = \'it\'\'s; fine\'',
        "-- the merge; then the drop\nINSERT INTO a SELECT * FROM b",
    ]
    assert split_statements("") == [] and split_statements(None) == []


def test_the_warehouse_connector_is_named_by_the_environment_never_imported(monkeypatch):
    from awsglue import _redshift_sink

    monkeypatch.delenv(_redshift_sink.WAREHOUSE_ENV, raising=False)
    with pytest.raises(RuntimeError, match="set GLUE_LOCAL_WAREHOUSE"):
        _redshift_sink.warehouse_connect()
    monkeypatch.setenv(_redshift_sink.WAREHOUSE_ENV, "no_such_module:connect")
    with pytest.raises(RuntimeError, match="'no_such_module:connect' does not name a callable"):
        _redshift_sink.warehouse_connect()
    monkeypatch.setenv(_redshift_sink.WAREHOUSE_ENV, "json:__doc__")
    with pytest.raises(RuntimeError, match="names str, not a callable"):
        _redshift_sink.warehouse_connect()
    monkeypatch.setenv(_redshift_sink.WAREHOUSE_ENV, "json:loads")
    assert _redshift_sink.warehouse_connect() is json.loads


def test_input_file_name_names_the_s3_object_not_its_staged_copy(glue_context, tmp_path):
    from pyspark.sql import functions as F

    staged = tmp_path / "glue-s3-mirror" / "raw-archive" / "raw" / "event_date=2010-12-01"
    staged.mkdir(parents=True)
    (staged / "batch-1.json.gz.staged").write_text('{"a": 1}\n')
    df = glue_context.spark_session.read.json(str(staged / "batch-1.json.gz.staged"))
    (name,) = [r[0] for r in df.select(F.input_file_name()).collect()]
    assert name == "s3://raw-archive/raw/event_date=2010-12-01/batch-1.json.gz"


# -- staging's line check: orjson answers first, the verdict stays json.loads's ------------------
def _json_loads_verdict(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


@pytest.mark.parametrize("line", [
    b'{"a":1}', b'  {"a": [1, {"b": null}]} \r', b'[1]', b'"x"', b'5', b'{"a":1', b'{"a":NaN}',
    b'{"a":Infinity}', b'{"a":"\\ud800"}', b'{"a":"\xa3"}', b'\xef\xbb\xbf{"a":1}', b'{"a":1}{"b":2}',
    b'{"a":1} x', b'{"a":1,"a":2}', b'{"a":123456789012345678901234567890}', b'{"a":1e999}', b'{}',
])
def test_staging_line_check_gives_json_loads_verdict(line):
    from awsglue._s3_source import _is_json_object

    assert _is_json_object(line) is _json_loads_verdict(line)


def test_staging_keeps_the_object_lines_and_reports_the_others():
    from awsglue._s3_source import _json_lines

    good, errors = _json_lines(b'{"a":1}\n\n[1]\n{"a":NaN}\n{"b":', "s3://b/k")
    assert good == b'{"a":1}\n{"a":NaN}\n'
    assert [(e[0], e[2]) for e in errors] == [("s3://b/k", "[1]"), ("s3://b/k", '{"b":')]
