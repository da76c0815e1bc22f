"""Firehose delivery streams: Kinesis source -> S3 intermediate objects -> COPY into Redshift, with
the description's buffering, retry duration, COPY options and the dedicated loader's credentials
read from Secrets Manager; a backup copy of every object and error logs.

AWS constraint: Firehose connects to Redshift from Firehose's own public address range, so it can
only reach a *publicly accessible* workgroup. This stack keeps the workgroup private; see
docs/deploy.md ("Firehose and the private warehouse") for what that means and the opt-in.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from constructs import Construct

from pipeline.resource_schema import Resources

from .compliance import acknowledge, checkov_skip, logical_id
from .storage import Storage
from .warehouse import Warehouse

S3_DELIVERY_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:PutObject",
)
KINESIS_SOURCE_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:GetShardIterator",
    "kinesis:GetRecords",
    "kinesis:ListShards",
)
BACKUP_PREFIX = "firehose-backup/"


class Firehoses(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        storage: Storage,
        warehouse: Warehouse,
    ):
        super().__init__(scope, id)
        self.streams: dict[str, firehose.CfnDeliveryStream] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in resources.firehoses:
            self.streams[spec.name] = self._delivery(spec, resources, storage, warehouse)

    def _delivery(
        self, spec, resources, storage: Storage, warehouse: Warehouse
    ) -> firehose.CfnDeliveryStream:
        bucket = storage.buckets[spec.staging_bucket]
        stream = storage.streams[spec.source_stream]
        secret = warehouse.secrets[spec.loader_secret]
        log_group = logs.LogGroup(
            self,
            f"Logs-{spec.name}",
            log_group_name=f"/aws/kinesisfirehose/{spec.name}",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.DESTROY,
        )
        checkov_skip(
            log_group,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts log data at rest by default; a CMK adds cost, not protection needed here",
        )
        log_streams = {"dest": "RedshiftDelivery", "s3": "S3Delivery", "backup": "S3Backup"}
        for key, name in log_streams.items():
            logs.LogStream(
                self,
                f"LogStream-{spec.name}-{key}",
                log_group=log_group,
                log_stream_name=name,
                removal_policy=RemovalPolicy.DESTROY,
            )
        role = iam.Role(
            self,
            f"Role-{spec.name}",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description=f"Firehose {spec.name}: read its stream, stage in its bucket, read the loader secret",
            inline_policies={
                "least-privilege": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=list(S3_DELIVERY_ACTIONS),
                            resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                        ),
                        iam.PolicyStatement(
                            actions=list(KINESIS_SOURCE_ACTIONS), resources=[stream.stream_arn]
                        ),
                        iam.PolicyStatement(
                            actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
                        ),
                        iam.PolicyStatement(
                            actions=["logs:PutLogEvents"],
                            resources=[
                                f"{log_group.log_group_arn.removesuffix(':*')}:log-stream:{n}"
                                for n in log_streams.values()
                            ],
                        ),
                    ]
                )
            },
        )
        self.roles[spec.name] = role
        logical = logical_id(bucket)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{self._resolve(logical)}.Arn>/*]",
            "Firehose writes objects under generated keys; the grant is limited to its staging bucket",
        )

        def s3_config(prefix: str, errors: str, stream_name: str):
            return firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=prefix,
                error_output_prefix=errors,
                compression_format="GZIP",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=spec.buffer_interval_s, size_in_m_bs=spec.buffer_size_mb
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=stream_name,
                ),
            )

        delivery = firehose.CfnDeliveryStream(
            self,
            f"Delivery-{spec.name}",
            delivery_stream_name=spec.name,
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=stream.stream_arn, role_arn=role.role_arn
            ),
            redshift_destination_configuration=firehose.CfnDeliveryStream.RedshiftDestinationConfigurationProperty(
                cluster_jdbcurl=warehouse.jdbc_url,
                role_arn=role.role_arn,
                copy_command=firehose.CfnDeliveryStream.CopyCommandProperty(
                    data_table_name=spec.table,
                    data_table_columns=",".join(spec.columns),
                    copy_options=spec.copy_options,
                ),
                secrets_manager_configuration=firehose.CfnDeliveryStream.SecretsManagerConfigurationProperty(
                    enabled=True, secret_arn=secret.secret_arn, role_arn=role.role_arn
                ),
                retry_options=firehose.CfnDeliveryStream.RedshiftRetryOptionsProperty(
                    duration_in_seconds=spec.retry_duration_s
                ),
                s3_configuration=s3_config(spec.prefix, spec.errors_prefix, log_streams["s3"]),
                s3_backup_mode="Enabled",
                s3_backup_configuration=s3_config(
                    BACKUP_PREFIX, f"{BACKUP_PREFIX}errors/", log_streams["backup"]
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_streams["dest"],
                ),
            ),
        )
        acknowledge(
            delivery,
            "AwsSolutions-KDF1",
            "a Kinesis-sourced delivery stream cannot set SSE: data is encrypted in the source stream and the SSE-KMS staging bucket",
        )
        return delivery

    def _resolve(self, token) -> str:
        from aws_cdk import Stack

        return Stack.of(self).resolve(token)
