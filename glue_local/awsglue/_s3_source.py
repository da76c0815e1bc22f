"""Read a Data Catalog table's S3 objects into a DynamicFrame (JSON lines, optionally gzip).

Spark here cannot read s3:// (no hadoop-aws), so the objects are copied through boto3 into a
local mirror, `<state>/glue/glue-s3-mirror/<bucket>/<key>.staged` (decompressed), and Spark
reads the copies; `input_file_name()` still names the S3 object, as on Glue
(`name_files_as_s3`). The Hive layout (`.../event_date=2010-12-01/...`) is kept, so partition columns
come from the path as on Glue. Every object is checked before Spark sees it: a corrupt gzip
object becomes one error record (the other objects load); a line that is not a JSON object
becomes one error record with the line, and is left out of the copy.

Known gaps vs AWS:
- Formats: JSON lines only (classification json); other classifications are refused by name.
- Partition locations must lie under the table location (Hive layout), as a crawler makes them.
- Types: columns the catalog types other than string are read as text and marked as choices
  (see dynamicframe.py); Glue infers per record.
- Objects are staged whole on local disk: fine for this archive, not for terabytes.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pyspark.sql.types import StringType, StructField, StructType

try:  # the local cloud's venv has it; a Glue runtime sandbox without it checks with json alone
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

from .dynamicframe import DynamicFrame
from .job import state_dir

log = logging.getLogger("glue_local")
MIRROR = "glue-s3-mirror"
STAGED_SUFFIX = ".staged"
RAW_LIMIT = 60000  # quarantine raw_record is VARCHAR(65535)


def boto_client(service: str):
    import boto3

    # No endpoint_url: boto3 reads AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, itself (the
    # compose harness serves Glue apart from LocalStack).
    return boto3.client(service, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def name_files_as_s3() -> None:
    """Make `pyspark.sql.functions.input_file_name()` give the S3 object a row was read from (on
    Glue it is the `s3://` URI), not the path of its staged copy; a job's code then needs no idea
    of the mirror. Installed by GlueContext; idempotent."""
    from pyspark.sql import functions

    if getattr(functions.input_file_name, "names_s3_objects", False):
        return
    spark_input_file_name = functions.input_file_name
    staged = rf"^file:(//)?.*/{MIRROR}/([^/]+)/(.*){re.escape(STAGED_SUFFIX)}$"

    def input_file_name():
        return functions.regexp_replace(spark_input_file_name(), staged, "s3://$2/$3")

    input_file_name.__doc__ = spark_input_file_name.__doc__
    input_file_name.names_s3_objects = True  # type: ignore[attr-defined]  # the mark tests look for
    functions.input_file_name = input_file_name


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// location")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@dataclass
class Staged:
    files: list[str] = field(default_factory=list)
    etags: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(s3 uri, reason, raw line) of objects that could not be decompressed and of lines that
    are not JSON objects."""


def read_catalog_table(
    glue_context,
    database: str,
    table_name: str,
    push_down_predicate: str,
    transformation_ctx: str,
    catalog_id=None,
) -> DynamicFrame:
    glue = boto_client("glue")
    kwargs = {"CatalogId": catalog_id} if catalog_id else {}
    table = glue.get_table(DatabaseName=database, Name=table_name, **kwargs)["Table"]
    sd = table["StorageDescriptor"]
    classification = (table.get("Parameters") or {}).get("classification", "json")
    if classification != "json":
        raise NotImplementedError(
            f"glue_local reads JSON tables only; {database}.{table_name} is {classification!r}"
        )
    location = sd["Location"].rstrip("/") + "/"
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    prefixes = [location]
    if keys:
        prefixes = _partition_locations(
            glue_context, glue, database, table_name, keys, push_down_predicate, kwargs
        )
        outside = [p for p in prefixes if not p.startswith(location)]
        if outside:
            raise NotImplementedError(f"partition locations outside {location}: {outside[:3]}")
    bookmarks = getattr(glue_context, "_bookmarks", None)
    seen = bookmarks.seen(transformation_ctx) if bookmarks else {}
    began = time.monotonic()
    staged = stage_objects(prefixes, seen)
    if bookmarks:
        bookmarks.record(transformation_ctx, staged.etags)
    columns = [c["Name"] for c in sd.get("Columns", [])]
    choices = {c["Name"]: c["Type"] for c in sd.get("Columns", []) if c["Type"] != "string"}
    frame = _spark_read(glue_context, staged, location, columns, keys, table_name, choices)
    glue_context.get_logger().info(
        f"read {database}.{table_name}: {len(prefixes)} location(s), {len(staged.etags)} new "
        f"object(s) ({len(seen)} skipped by the bookmark), {len(staged.errors)} unreadable, "
        f"staged in {time.monotonic() - began:.1f} s"
    )
    return frame


def _partition_locations(glue_context, glue, database, table_name, keys, predicate, kwargs):
    partitions = []
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table_name, **kwargs
    ):
        partitions += page["Partitions"]
    if not partitions:
        return []
    rows = [tuple(p["Values"]) + (p["StorageDescriptor"]["Location"],) for p in partitions]
    if not predicate:
        return sorted(r[-1].rstrip("/") + "/" for r in rows)
    spark = glue_context.spark_session
    schema = StructType(
        [StructField(k, StringType()) for k in keys] + [StructField("__location", StringType())]
    )
    chosen = spark.createDataFrame(rows, schema).where(predicate).select("__location").collect()
    return sorted(r[0].rstrip("/") + "/" for r in chosen)


def stage_objects(prefixes: list[str], seen: dict[str, str]) -> Staged:
    """Copy the objects under `prefixes` that `seen` does not hold (same ETag) to the mirror."""
    s3 = boto_client("s3")
    wanted: list[tuple[str, str, str]] = []
    for bucket, key, etag in _list_objects(s3, prefixes):
        uri = f"s3://{bucket}/{key}"
        if seen.get(uri) != etag:
            wanted.append((bucket, key, etag))
    staged = Staged()
    root = state_dir() / MIRROR

    def fetch(item):
        bucket, key, _etag = item
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        uri = f"s3://{bucket}/{key}"
        text, problem = _decompress(key, body)
        if problem:
            return item, None, [(uri, problem, None)]
        good, errors = _json_lines(text, uri)
        path = (
            root / bucket / (key + STAGED_SUFFIX)
        )  # decompressed; the suffix keeps Spark off gzip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(good)
        tmp.replace(path)
        return item, str(path), errors

    with ThreadPoolExecutor(max_workers=8) as pool:
        for (bucket, key, etag), path, errors in pool.map(fetch, wanted):
            staged.etags[f"s3://{bucket}/{key}"] = etag
            staged.errors += errors
            if path:
                staged.files.append(path)
    return staged


def _list_objects(s3, prefixes: list[str]):
    """(bucket, key, etag) under `prefixes`; one listing of their common root, not one per prefix
    (a table has hundreds of partitions, ListObjectsV2 returns 1,000 keys a call)."""
    by_bucket: dict[str, list[str]] = {}
    for prefix in prefixes:
        bucket, key_prefix = split_s3(prefix)
        by_bucket.setdefault(bucket, []).append(key_prefix)
    for bucket, key_prefixes in by_bucket.items():
        root = os.path.commonprefix(key_prefixes)  # noqa: RUF071 - S3 prefixes are strings, not paths
        wanted = tuple(key_prefixes)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                name = key.rsplit("/", 1)[-1]
                if not key.startswith(wanted) or key.endswith("/") or obj["Size"] == 0:
                    continue
                if name.startswith(("_", ".")):
                    continue  # Hadoop side files (_SUCCESS, .crc), skipped as Spark does
                yield bucket, key, obj["ETag"].strip('"')


def _decompress(key: str, body: bytes) -> tuple[bytes, str | None]:
    if not (key.endswith(".gz") or body[:2] == b"\x1f\x8b"):
        return body, None
    try:
        return gzip.decompress(body), None
    except (OSError, EOFError, zlib.error) as exc:
        return b"", f"corrupt gzip object ({exc})"


def _json_lines(text: bytes, uri: str) -> tuple[bytes, list[tuple[str, str, str | None]]]:
    """The lines that are JSON objects, and an error per line that is not (blank lines skipped).

    Checked here rather than with Spark's _corrupt_record: one pass of json.loads is cheaper than
    the extra Spark scan, and keeps input_file_name() usable on the good rows."""
    good: list[bytes] = []
    errors: list[tuple[str, str, str | None]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if _is_json_object(line):
            good.append(line)
        else:
            raw = line[:RAW_LIMIT].decode("utf-8", errors="replace")
            errors.append((uri, "line is not a JSON object", raw))
    return b"\n".join(good) + b"\n", errors


def _is_json_object(line: bytes) -> bool:
    """json.loads's verdict; orjson (several times faster) answers first where it accepts the line:
    whatever strict RFC 8259 JSON orjson reads, json.loads reads the same (it accepts more:
    NaN, lone surrogates, which then go to json.loads itself)."""
    if orjson is not None:
        try:
            return type(orjson.loads(line)) is dict
        except orjson.JSONDecodeError:
            pass
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False


def _spark_read(glue_context, staged: Staged, location, columns, keys, name, choices):
    spark = glue_context.spark_session
    schema = StructType([StructField(c, StringType()) for c in columns + keys])
    bucket, key_prefix = split_s3(location)
    base = state_dir() / MIRROR / bucket / key_prefix
    if staged.files:
        good = spark.read.schema(schema).option("basePath", str(base)).json(staged.files)
    else:
        good = spark.createDataFrame([], schema)
    errors = spark.createDataFrame(staged.errors, "source string, error string, raw string")
    return DynamicFrame(good, glue_context, name, errors=errors, choices=choices)
