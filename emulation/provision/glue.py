"""Provision step 'glue': the Data Catalog (database, archive table), the warehouse connection and
the Glue job, through boto3 against moto, as a user could with `aws glue ...`.

- Table: EXTERNAL_TABLE over `s3://<bucket>/<prefix>`, JSON SerDe, gzip, partitioned as described
  (event_date). The job registers new partitions itself at the start of each run
  (pipeline/glue/catalog_partitions.py).
- Connection: JDBC, `JDBC_CONNECTION_URL=jdbc:redshift://<warehouse host>:<port>/<database>` and
  `SECRET_ID=<the job's warehouse_secret>` (its dedicated user, as on AWS); its name is the job's
  `--REDSHIFT_CONNECTION` argument.
- Job: script uploaded to S3 (`pipeline.glue_job_arguments.script_location`), DefaultArguments
  from `pipeline.glue_job_arguments.job_arguments`, MaxConcurrentRuns 1.

Idempotent: an existing database and connection are kept (moto 5.2.1 has no UpdateConnection),
the table is updated in place, the job recreated (which clears moto's run history, not the
runner's) and the script re-uploaded.

Known gaps vs AWS: in the package docstring (`emulation.provision`).
"""

from __future__ import annotations

import json
import logging

from emulation.config import REPO_ROOT
from pipeline.glue_job_arguments import job_arguments, script_location

log = logging.getLogger("localcloud.provision")
SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def _client(config, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def table_input(table, location: str) -> dict:
    columns = [{"Name": c.name, "Type": c.type} for c in table.columns]
    return {
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": table.classification,
            "compressionType": table.compression,
            "typeOfData": "file",
        },
        "PartitionKeys": [{"Name": c.name, "Type": c.type} for c in table.partition_keys],
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": INPUT_FORMAT,
            "OutputFormat": OUTPUT_FORMAT,
            "Compressed": table.compression != "none",
            "SerdeInfo": {
                "SerializationLibrary": SERDE,
                "Parameters": {"paths": ",".join(c.name for c in table.columns)},
            },
        },
    }


def provision(config, resources, names) -> None:
    glue, s3 = _client(config, "glue"), _client(config, "s3")
    for database in sorted({t.database for t in resources.glue_tables}):
        try:
            glue.create_database(DatabaseInput={"Name": database})
        except glue.exceptions.AlreadyExistsException:
            pass
    for table in resources.glue_tables:
        location = f"s3://{names.bucket(table.bucket)}/{table.prefix}"
        spec = table_input(table, location)
        try:
            glue.create_table(DatabaseName=table.database, TableInput=spec)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=table.database, TableInput=spec)
    for job in resources.glue_jobs:
        arguments = job_arguments(resources, job, names.bucket)
        connection = arguments.get("--REDSHIFT_CONNECTION")
        if connection and resources.warehouse is not None:
            _put_connection(
                config,
                glue,
                connection,
                resources.warehouse,
                job.warehouse_secret or resources.warehouse.admin_secret,
            )
        location = script_location(job, names.bucket)
        bucket, _, key = location[5:].partition("/")
        s3.upload_file(str(REPO_ROOT / job.script), bucket, key)
        spec = dict(
            Role=f"arn:aws:iam::{names.account}:role/{job.name}-role",
            Command={"Name": "glueetl", "ScriptLocation": location, "PythonVersion": "3"},
            DefaultArguments=arguments,
            ExecutionProperty={"MaxConcurrentRuns": 1},
            GlueVersion=job.glue_version,
            WorkerType=job.worker_type,
            NumberOfWorkers=job.number_of_workers,
            Timeout=job.timeout_min,
            Description=f"{job.script} (provisioned by emulation.provision.glue)",
        )
        if connection:
            spec["Connections"] = {"Connections": [connection]}
        try:
            glue.get_job(JobName=job.name)
            glue.delete_job(JobName=job.name)
        except glue.exceptions.EntityNotFoundException:
            pass
        glue.create_job(Name=job.name, **spec)


def _put_connection(config, glue, name: str, warehouse, secret_id: str) -> None:
    secrets = _client(config, "secretsmanager")
    try:
        secret = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    except secrets.exceptions.ResourceNotFoundException:
        # The rest of the cloud is still usable; a job run then fails naming the connection.
        log.warning(
            "glue: secret %r missing (warehouse step not run?): connection %r not created",
            secret_id,
            name,
        )
        return
    url = f"jdbc:redshift://{secret['host']}:{secret['port']}/{warehouse.database}"
    spec = {
        "Name": name,
        "Description": "The warehouse, for Glue loads (credentials in Secrets Manager)",
        "ConnectionType": "JDBC",
        "ConnectionProperties": {
            "JDBC_CONNECTION_URL": url,
            "SECRET_ID": secret_id,
            "JDBC_ENFORCE_SSL": "false",
        },
    }
    try:
        glue.create_connection(ConnectionInput=spec)
    except glue.exceptions.AlreadyExistsException:
        pass  # moto has no UpdateConnection/DeleteConnection; its state is per server start
