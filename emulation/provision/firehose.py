"""Provision step 'firehose': the delivery stream records in the AWS API (moto).

`aws firehose describe-delivery-stream --delivery-stream-name sales-to-warehouse` shows what the
CDK stack deploys: a KinesisStreamAsSource stream with a Redshift destination (COPY command,
S3 staging configuration with buffering hints and GZIP, retry options, the loader's secret).
The delivery itself is done by the runtime's `emulation.firehose.service.FirehoseService`; moto's own
Firehose never reads a Kinesis source and drops Redshift-bound data.

Idempotent: an existing delivery stream is left as it is.

Known gaps vs AWS: in the package docstring (`emulation.provision`).
"""

from __future__ import annotations

PASSWORD_PLACEHOLDER = "see-secrets-manager"


def provision(config, resources, names) -> None:
    if not resources.firehoses:
        return
    import boto3

    client = boto3.client(
        "firehose",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    existing = set(client.list_delivery_streams(Limit=1000)["DeliveryStreamNames"])
    secrets = {s.name: s for s in resources.secrets}
    database = resources.warehouse.database if resources.warehouse else "dev"
    for fh in resources.firehoses:
        if fh.name in existing:
            continue
        role = names.role_arn(f"firehose-{fh.name}")
        client.create_delivery_stream(
            DeliveryStreamName=fh.name,
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={
                "KinesisStreamARN": names.stream_arn(fh.source_stream),
                "RoleARN": role,
            },
            RedshiftDestinationConfiguration={
                "RoleARN": role,
                "ClusterJDBCURL": f"jdbc:redshift://{config.host}:{config.warehouse_port}/{database}",
                "CopyCommand": {
                    "DataTableName": fh.table,
                    "DataTableColumns": ",".join(fh.columns),
                    "CopyOptions": fh.copy_options,
                },
                "Username": secrets[fh.loader_secret].username,
                "Password": PASSWORD_PLACEHOLDER,
                "RetryOptions": {"DurationInSeconds": fh.retry_duration_s},
                "S3Configuration": {
                    "RoleARN": role,
                    "BucketARN": f"arn:aws:s3:::{names.bucket(fh.staging_bucket)}",
                    "Prefix": fh.prefix,
                    "ErrorOutputPrefix": fh.errors_prefix,
                    "BufferingHints": {
                        "SizeInMBs": fh.buffer_size_mb,
                        "IntervalInSeconds": fh.buffer_interval_s,
                    },
                    "CompressionFormat": "GZIP",
                },
            },
        )
