"""Provision step 'glue' (template mode): the assets, the Data Catalog, connections and jobs exactly
as the template declares them.

- Assets: every file asset is put in its bucket under its object key, as `cdk deploy` publishes
  them (the CDK bootstrap bucket is created first), so the job's `ScriptLocation` and
  `--extra-py-files` name real objects. Folder assets (Lambda code, layers) are not uploaded: the
  Lambda service runs them from `cdk.out` directly.
- Databases, and tables with their `TableInput` verbatim (updated in place when they exist).
- Connections with their properties; a JDBC URL naming the workgroup's endpoint is rewritten to
  the local warehouse's host and port (the workgroup is served there).
- Jobs: Command, DefaultArguments, Connections, version, workers, timeout and MaxConcurrentRuns from
  the template; nothing added (a missing argument fails the run, as on AWS).

Known gaps vs AWS: PhysicalConnectionRequirements and SecurityConfiguration are not applied; moto
has no UpdateConnection, so a connection keeps its first properties until moto restarts.
"""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict

_JDBC = re.compile(r"^(jdbc:redshift://)([^:/]+)(?::(\d+))?(/.*)$")


def provision(config, resources, names) -> None:
    import boto3

    from emulation.provision.runner import step_client_kwargs

    kwargs = step_client_kwargs(config)
    glue, s3 = boto3.client("glue", **kwargs), boto3.client("s3", **kwargs)
    publish_assets(s3, resources, config.region)
    for database in resources.glue_databases:
        try:
            glue.create_database(DatabaseInput={"Name": database})
        except glue.exceptions.AlreadyExistsException:
            pass
    for qualified, table in resources.glue_table_inputs.items():
        database = qualified.split(".", 1)[0]
        try:
            glue.create_table(DatabaseName=database, TableInput=table)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=table)
    host, port = warehouse_address(config, resources)
    for connection in resources.glue_connections:
        properties = dict(connection.properties)
        url = properties.get("JDBC_CONNECTION_URL", "")
        match = _JDBC.match(url)
        if match and match.group(2) == resources.warehouse_endpoint:
            properties["JDBC_CONNECTION_URL"] = f"{match.group(1)}{host}:{port}{match.group(4)}"
        spec = {
            "Name": connection.name,
            "ConnectionType": connection.connection_type,
            "ConnectionProperties": properties,
        }
        if connection.description:
            spec["Description"] = connection.description
        try:
            glue.create_connection(ConnectionInput=spec)
        except glue.exceptions.AlreadyExistsException:
            pass
    for job in resources.glue_jobs:
        spec = dict(
            Role=f"arn:aws:iam::{names.account}:role/{job.name}-role",
            Command={
                "Name": "glueetl",
                "ScriptLocation": job.script_location,
                "PythonVersion": "3",
            },
            DefaultArguments=dict(job.default_arguments),
            ExecutionProperty={"MaxConcurrentRuns": job.max_concurrent_runs},
            GlueVersion=job.glue_version,
            WorkerType=job.worker_type,
            NumberOfWorkers=job.number_of_workers,
            Timeout=job.timeout_min,
        )
        if job.connections:
            spec["Connections"] = {"Connections": list(job.connections)}
        try:
            glue.get_job(JobName=job.name)
            glue.delete_job(JobName=job.name)
        except glue.exceptions.EntityNotFoundException:
            pass
        glue.create_job(Name=job.name, **spec)


def publish_assets(s3, resources, region: str) -> None:
    """Put each file asset where the template expects it (what `cdk deploy` publishes)."""
    buckets = set()
    for asset in resources.assets:
        if asset.packaging != "file":
            continue
        if asset.bucket not in buckets:
            extra = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            try:
                s3.create_bucket(Bucket=asset.bucket, **extra)
            except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                pass
            buckets.add(asset.bucket)
        s3.upload_file(asset.path, asset.bucket, asset.key)


def warehouse_address(config, resources) -> tuple[str, int]:
    """Where the local warehouse serves the workgroup's endpoint (the external DSN's, if set)."""
    from emulation.redshift import server as warehouse

    dsn = config.warehouse_dsn or warehouse.superuser_dsn(config)
    parts = conninfo_to_dict(dsn)
    return str(parts.get("host") or config.host), int(parts.get("port") or config.warehouse_port)
