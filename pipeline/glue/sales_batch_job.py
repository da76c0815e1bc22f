"""Glue job `sales-batch-load`: the raw S3 archive -> analytics.sales in the warehouse.

Runs on AWS Glue 5.0 (Spark 3.5, Python 3.11) and, unchanged, on the local cloud's runner (which
puts glue_local/ first on PYTHONPATH so `awsglue` resolves to it). Arguments (the job's
default_arguments in pipeline/resources.py, overridable per run):

    --JOB_NAME --DATABASE --TABLE --TARGET_TABLE --QUARANTINE_TABLE --REDSHIFT_CONNECTION
    --WAREHOUSE_DATABASE --TempDir (the last two derived by pipeline.glue_job_arguments)
    optional: --FROM_DATE / --TO_DATE (YYYY-MM-DD): only those event_date partitions

Steps: register the archive's new event_date partitions in the Data Catalog (a Glue job reads
only registered partitions; pipeline/glue/catalog_partitions.py), read the catalog table (job
bookmark: only objects not yet processed), resolve choice types
to strings, type every line under the null policy (pipeline/glue/transforms.py, docs/batch.md),
dedupe by event_id, map to the warehouse columns, and load through a staging table and a MERGE on
event_id so a re-run adds nothing. Unparseable and untypable lines go to the quarantine table with
their reason. No new data -> no warehouse statement at all (Redshift bills a 60 s minimum).
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.transforms import ApplyMapping, DropNullFields, ResolveChoice
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from pipeline.glue import transforms
from pipeline.glue.catalog_partitions import register_new_partitions

REQUIRED = [
    "JOB_NAME",
    "DATABASE",
    "TABLE",
    "TARGET_TABLE",
    "QUARANTINE_TABLE",
    "REDSHIFT_CONNECTION",
    "WAREHOUSE_DATABASE",
    "TempDir",
]
OPTIONAL = ["FROM_DATE", "TO_DATE"]


def optional_args(argv: list[str], names: list[str]) -> dict[str, str]:
    """getResolvedOptions requires every name it is given: resolve the optional ones only if set."""
    present = [n for n in names if f"--{n}" in argv]
    return getResolvedOptions(argv, present) if present else {}


def merge_actions(target: str, staging: str, columns: tuple[str, ...]) -> tuple[str, str]:
    """(preactions, postactions) loading `target` from `staging` with a MERGE on event_id."""
    pre = f"CREATE TABLE IF NOT EXISTS {staging} (LIKE {target} INCLUDING DEFAULTS); TRUNCATE {staging};"
    updates = ", ".join(f"{c} = s.{c}" for c in columns if c != "event_id")
    post = (
        f"MERGE INTO {target} USING {staging} AS s ON {target}.event_id = s.event_id "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
        f"VALUES ({', '.join('s.' + c for c in columns)}); TRUNCATE {staging};"
    )
    return pre, post


def quarantine_actions(target: str, staging: str) -> tuple[str, str]:
    """Quarantine rows have no key: replace the rows of the same object and raw line."""
    pre = f"CREATE TABLE IF NOT EXISTS {staging} (LIKE {target} INCLUDING DEFAULTS); TRUNCATE {staging};"
    cols = ", ".join(transforms.QUARANTINE_COLUMNS)
    post = (
        f"DELETE FROM {target} USING {staging} AS s WHERE {target}.source_object = s.source_object "
        f"AND {target}.raw_record = s.raw_record; "
        f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}; TRUNCATE {staging};"
    )
    return pre, post


def aws_client(service: str):
    """A boto3 client in AWS_REGION (or AWS_DEFAULT_REGION), else in boto3's own default region;
    locally the runner sets both, and AWS_ENDPOINT_URL, which points boto3 at the local cloud."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client(service, region_name=region)


def write_to_warehouse(glue_context, frame, args, table: str, actions, ctx: str) -> None:
    pre, post = actions
    glue_context.write_dynamic_frame.from_jdbc_conf(
        frame=frame,
        catalog_connection=args["REDSHIFT_CONNECTION"],
        connection_options={
            "dbtable": table + "_staging",
            "database": args["WAREHOUSE_DATABASE"],
            "preactions": pre,
            "postactions": post,
        },
        redshift_tmp_dir=args["TempDir"],
        transformation_ctx=ctx,
    )


def main(argv: list[str]) -> None:
    started = time.monotonic()
    args = getResolvedOptions(argv, REQUIRED)
    args.update(optional_args(argv, OPTIONAL))
    if not args.get("TempDir"):  # getResolvedOptions never requires TempDir, even when asked
        raise ValueError("--TempDir is required: the S3 folder the Redshift load stages through")
    # Checked before Spark starts, so a bad date fails the run at once.
    predicate = transforms.partition_predicate(args.get("FROM_DATE"), args.get("TO_DATE"))
    glue_context = GlueContext(SparkContext.getOrCreate())
    logger = glue_context.get_logger()
    phases = {"spark_start": time.monotonic() - started}
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    new = register_new_partitions(
        aws_client("glue"), aws_client("s3"), args["DATABASE"], args["TABLE"]
    )
    logger.info(
        f"batch: registered {len(new)} new partition(s) of {args['DATABASE']}.{args['TABLE']}"
    )
    phases["catalog"] = time.monotonic() - started - sum(phases.values())

    archive = glue_context.create_dynamic_frame.from_catalog(
        database=args["DATABASE"],
        table_name=args["TABLE"],
        transformation_ctx="read_archive",
        push_down_predicate=predicate,
    )
    lines = ResolveChoice.apply(archive, choice="cast:string", transformation_ctx="resolve_choice")
    typed = transforms.type_sales(lines.toDF()).cache()
    n_read, n_unreadable = typed.count(), archive.errorsCount()  # the one scan of the archive
    phases["read"] = time.monotonic() - started - sum(phases.values())
    unreadable = transforms.unreadable_records(archive.errorsAsDynamicFrame().toDF())
    sales = transforms.dedupe_events(transforms.valid_sales(typed)).cache()
    quarantine = transforms.rejected_lines(typed).unionByName(unreadable).cache()

    n_sales, n_quarantine = sales.count(), quarantine.count()
    phases["transform"] = time.monotonic() - started - sum(phases.values())
    logger.info(
        f"batch: {n_read + n_unreadable} lines read, {n_unreadable} unreadable, "
        f"{n_sales} sales to load, {n_quarantine} quarantined"
    )
    if n_sales:
        mapped = ApplyMapping.apply(
            frame=DynamicFrame.fromDF(sales, glue_context, "sales"),
            mappings=list(transforms.SALES_MAPPING),
            transformation_ctx="map_to_warehouse",
        )
        # A column null on every line of this run (e.g. no customer at all) is dropped here;
        # the COPY then leaves it NULL in the table.
        mapped = DropNullFields.apply(frame=mapped, transformation_ctx="drop_null_fields")
        write_to_warehouse(
            glue_context,
            mapped,
            args,
            args["TARGET_TABLE"],
            merge_actions(
                args["TARGET_TABLE"],
                args["TARGET_TABLE"] + "_staging",
                tuple(mapped.toDF().columns),
            ),
            "write_sales",
        )
    if n_quarantine:
        write_to_warehouse(
            glue_context,
            DynamicFrame.fromDF(quarantine, glue_context, "quarantine"),
            args,
            args["QUARANTINE_TABLE"],
            quarantine_actions(args["QUARANTINE_TABLE"], args["QUARANTINE_TABLE"] + "_staging"),
            "write_quarantine",
        )
    phases["load"] = time.monotonic() - started - sum(phases.values())
    job.commit()
    logger.info("timings: " + " ".join(f"{k}={v:.2f}s" for k, v in phases.items()))


if __name__ == "__main__":
    main(sys.argv)
