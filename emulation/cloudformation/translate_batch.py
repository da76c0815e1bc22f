"""The template's warehouse, Firehose delivery streams and Glue resources -> the description.

- Warehouse: the Redshift Serverless namespace (database, the admin secret its password comes
  from by dynamic reference) and workgroup (endpoint, port), served by the local PostgreSQL.
- Firehose: Kinesis source, Redshift destination (COPY command, loader secret, retry duration),
  S3 staging (bucket, prefixes, buffering), and the verdict of `constraints.firehose_to_redshift`.
- Glue: databases, tables (TableInput verbatim), connections, and jobs with their script location
  and DefaultArguments exactly as the template gives them.
"""

from __future__ import annotations

from pipeline.resource_schema import GlueColumn, GlueTable, Warehouse

from .assembly import TemplateError
from .constraints import firehose_to_redshift
from .intrinsics import dynamic_references
from .model import GlueConnection, ReachableFirehose, ScriptJob


def _secret_name(t, arn_or_name: str, where: str) -> str:
    lid = t.logical_id_of("AWS::SecretsManager::Secret", arn_or_name)
    if lid is None:
        names = {t.ids.name(s): s for s in t.of_type("AWS::SecretsManager::Secret")}
        if arn_or_name not in names:
            raise TemplateError(f"{where}: secret {arn_or_name} is not a secret of this stack")
        lid = names[arn_or_name]
    return t.ids.name(lid)


def warehouse(t) -> Warehouse | None:
    namespaces = t.of_type("AWS::RedshiftServerless::Namespace")
    if not namespaces:
        return None
    if len(namespaces) > 1:
        raise TemplateError(
            f"template mode serves one warehouse; the template has namespaces {namespaces}"
        )
    lid = namespaces[0]
    p = t.props(lid)
    refs = dynamic_references(str(p.get("AdminUserPassword", "")))
    if not refs or refs[0].service != "secretsmanager":
        raise TemplateError(
            f"{lid}: the admin password must come from a Secrets Manager secret "
            "({{resolve:secretsmanager:...}}) for the local warehouse to use it"
        )
    group = workgroup(t)
    from pipeline.resources import (
        PIPELINE,  # the SQL files `python -m deploy schema` applies after deploy
    )

    return Warehouse(
        database=p.get("DbName", "dev"),
        admin_secret=_secret_name(t, refs[0].secret_id, f"{lid}.AdminUserPassword"),
        base_rpu=int((t.props(group, "BaseCapacity") if group else None) or 128),
        schema_files=PIPELINE.required_warehouse.schema_files,
    )


def workgroup(t) -> str | None:
    """The logical id of the stack's Redshift Serverless workgroup (None without one)."""
    groups = t.of_type("AWS::RedshiftServerless::Workgroup")
    if len(groups) > 1:
        raise TemplateError(
            f"template mode serves one warehouse; the template has workgroups {groups}"
        )
    return groups[0] if groups else None


def firehoses(t) -> tuple[ReachableFirehose, ...]:
    out = []
    for lid in t.of_type("AWS::KinesisFirehose::DeliveryStream"):
        p = t.props(lid)
        source = (p.get("KinesisStreamSourceConfiguration") or {}).get("KinesisStreamARN")
        dest = p.get("RedshiftDestinationConfiguration")
        if not source or dest is None:
            t.skip(
                lid, "only Kinesis-sourced delivery streams with a Redshift destination run here"
            )
            continue
        copy, s3 = dest.get("CopyCommand") or {}, dest.get("S3Configuration") or {}
        secret = dest.get("SecretsManagerConfiguration") or {}
        if secret.get("Enabled") not in (True, "true") or not secret.get("SecretARN"):
            raise TemplateError(
                f"{lid}: the loader's credentials must come from SecretsManagerConfiguration"
            )
        if s3.get("CompressionFormat", "UNCOMPRESSED") != "GZIP":
            raise TemplateError(
                f"{lid}: S3 staging CompressionFormat {s3.get('CompressionFormat')}: "
                "the local delivery stages GZIP objects only"
            )
        if not copy.get("DataTableColumns"):
            raise TemplateError(f"{lid}: CopyCommand.DataTableColumns is required in template mode")
        hints = s3.get("BufferingHints") or {}
        unreachable = firehose_to_redshift(
            t.template, t.evaluator.value, t.ids, dest.get("ClusterJDBCURL", "")
        )
        name = t.ids.name(lid)
        if unreachable:
            t.problems.append(
                f"Firehose {name} cannot connect to the warehouse as AWS requires: "
                + "; ".join(unreachable)
            )
        out.append(
            ReachableFirehose(
                name=name,
                source_stream=source.rsplit("/", 1)[-1],
                staging_bucket=s3["BucketARN"].rsplit(":", 1)[-1],
                prefix=s3.get("Prefix", ""),
                errors_prefix=s3.get("ErrorOutputPrefix", ""),
                buffer_size_mb=int(hints.get("SizeInMBs", 5)),
                buffer_interval_s=int(hints.get("IntervalInSeconds", 300)),
                retry_duration_s=int(
                    (dest.get("RetryOptions") or {}).get("DurationInSeconds", 3600)
                ),
                table=copy["DataTableName"],
                columns=tuple(c.strip() for c in copy["DataTableColumns"].split(",")),
                copy_options=copy.get("CopyOptions", ""),
                loader_secret=_secret_name(
                    t, secret["SecretARN"], f"{lid}.SecretsManagerConfiguration"
                ),
                unreachable="; ".join(unreachable) or None,
            )
        )
    return tuple(out)


def glue(t) -> dict:
    tables, inputs = [], {}
    for lid in t.of_type("AWS::Glue::Table"):
        p = t.props(lid)
        spec = p["TableInput"]
        storage = spec.get("StorageDescriptor", {})
        location = storage.get("Location", "")
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        col = lambda c: GlueColumn(name=c["Name"], type=c["Type"])  # noqa: E731
        params = spec.get("Parameters", {})
        tables.append(
            GlueTable(
                database=p["DatabaseName"],
                name=spec["Name"],
                bucket=bucket,
                prefix=prefix,
                columns=tuple(col(c) for c in storage.get("Columns", [])),
                partition_keys=tuple(col(c) for c in spec.get("PartitionKeys", [])),
                classification=params.get("classification", "json"),
                compression=params.get("compressionType", "none"),
            )
        )
        inputs[f"{p['DatabaseName']}.{spec['Name']}"] = spec
    connections = []
    for lid in t.of_type("AWS::Glue::Connection"):
        spec = t.props(lid, "ConnectionInput")
        connections.append(
            GlueConnection(
                name=spec["Name"],
                connection_type=spec.get("ConnectionType", "JDBC"),
                properties={k: str(v) for k, v in (spec.get("ConnectionProperties") or {}).items()},
                description=spec.get("Description", ""),
            )
        )
    jobs = []
    for lid in t.of_type("AWS::Glue::Job"):
        p = t.props(lid)
        command = p.get("Command") or {}
        if command.get("Name") != "glueetl":
            t.skip(lid, f"job command {command.get('Name')}: only Spark (glueetl) jobs run here")
            continue
        arguments = {k: str(v) for k, v in (p.get("DefaultArguments") or {}).items()}
        names = tuple((p.get("Connections") or {}).get("Connections", []))
        secret_ids = [
            c.properties["SECRET_ID"]
            for c in connections
            if c.name in names and "SECRET_ID" in c.properties
        ]
        temp = arguments.get("--TempDir", "").removeprefix("s3://").split("/", 1)[0]
        location = command["ScriptLocation"]
        jobs.append(
            ScriptJob(
                name=p.get("Name") or t.ids.generated_name(lid),
                script=str(t.stack.asset(location.rsplit("/", 1)[-1]).path),
                glue_version=str(p.get("GlueVersion", "0.9")),
                worker_type=p.get("WorkerType", "Standard"),
                number_of_workers=int(p.get("NumberOfWorkers", 2)),
                timeout_min=int(p.get("Timeout", 2880)),
                temp_bucket=temp or (tables[0].bucket if tables else ""),
                default_arguments=arguments,
                script_location=location,
                connections=names,
                # The user the job's connection logs in as gets its grants (pipeline.grants), as on AWS.
                warehouse_secret=_secret_name(t, secret_ids[0], f"{lid}.Connections")
                if secret_ids
                else None,
                max_concurrent_runs=int(
                    (p.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1)
                ),
            )
        )
    databases = tuple(
        t.props(lid, "DatabaseInput", "Name") for lid in t.of_type("AWS::Glue::Database")
    )
    group = workgroup(t)
    endpoint = t.ids.workgroup_endpoint(group) if group else None
    port = int((t.props(group, "Port") if group else None) or 5439)
    return {
        "glue_tables": tuple(tables),
        "glue_jobs": tuple(jobs),
        "glue_databases": databases,
        "glue_table_inputs": inputs,
        "glue_connections": tuple(connections),
        "warehouse_endpoint": endpoint,
        "warehouse_port": port,
    }
