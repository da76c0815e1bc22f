"""The Glue job's full DefaultArguments and script location, derived once from the resource
description (`pipeline.resources`).

Both targets call this (emulation/provision/glue.py locally, the CDK app on AWS), so the arguments
the script reads cannot drift: the description's `default_arguments` plus what follows from other
resources (the temp dir in the job's temp bucket, the warehouse database).
"""

from __future__ import annotations

from collections.abc import Callable

SCRIPTS_PREFIX = "scripts/"
TEMP_PREFIX = "tmp/"


def job_arguments(resources, job, bucket_name: Callable[[str], str]) -> dict[str, str]:
    """`bucket_name(logical_id)` gives the target's physical bucket name."""
    arguments = dict(job.default_arguments)
    arguments["--TempDir"] = f"s3://{bucket_name(job.temp_bucket)}/{TEMP_PREFIX}"
    if resources.warehouse is not None:
        arguments["--WAREHOUSE_DATABASE"] = resources.warehouse.database
    arguments.setdefault("--job-language", "python")
    return arguments


def script_location(job, bucket_name: Callable[[str], str]) -> str:
    """Where the job script lives in S3 (Glue runs scripts from S3 only)."""
    name = job.script.rsplit("/", 1)[-1]
    return f"s3://{bucket_name(job.temp_bucket)}/{SCRIPTS_PREFIX}{job.name}/{name}"
