"""Stream, tables, buckets and on-failure queues: the data the pipeline keeps, encrypted at rest.

Encryption uses AWS-managed keys (aws/kinesis, aws/dynamodb, aws/s3, SQS-managed): encryption at
rest with no per-key monthly fee and no KMS grants to manage; a customer key buys cross-account
sharing and key-policy control, which this single-account pipeline does not use.
Removal: the stream is deleted with the stack (it holds 24 h of events, all already delivered, and
bills per shard-hour); tables and buckets are kept (`destroy` must never lose data) with
RetainExceptOnCreate, so a failed *first* create deletes what it made and can simply be retried
(docs/deploy.md, "What destroy leaves behind").
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from pipeline.resource_schema import Resources

from .compliance import acknowledge, checkov_skip
from .names import bucket_name

KEEP = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
"""DeletionPolicy RetainExceptOnCreate: kept on stack delete and update, deleted when the create
that made it rolls back (their names are fixed: a retained leftover would fail every retry)."""
_AWS_MANAGED_KEY = "AWS-managed KMS key encrypts at rest; a customer key adds $1/month/key and grants for no extra control needed here"


class Storage(Construct):
    def __init__(self, scope: Construct, id: str, *, resources: Resources):
        super().__init__(scope, id)
        self.streams = {s.name: self._stream(s) for s in resources.streams}
        self.tables = {t.name: self._table(t) for t in resources.tables}
        self.queues = {q.name: self._queue(q) for q in resources.queues}
        self.access_logs = self._access_log_bucket()
        self.buckets = {b.id: self._bucket(resources, b) for b in resources.buckets}

    def _stream(self, spec) -> kinesis.Stream:
        stream = kinesis.Stream(
            self,
            f"Stream-{spec.name}",
            stream_name=spec.name,
            shard_count=spec.shard_count,
            retention_period=Duration.hours(spec.retention_hours),
            stream_mode=kinesis.StreamMode.PROVISIONED,
            encryption=kinesis.StreamEncryption.MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )
        return stream

    def _table(self, spec) -> dynamodb.Table:
        sort_key = (
            dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING)
            if spec.sort_key
            else None
        )
        table = dynamodb.Table(
            self,
            f"Table-{spec.name}",
            table_name=spec.name,
            partition_key=dynamodb.Attribute(
                name=spec.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=KEEP,
        )
        checkov_skip(table, "CKV_AWS_119", _AWS_MANAGED_KEY)
        return table

    def _queue(self, spec) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            f"Queue-{spec.name}",
            queue_name=spec.name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        checkov_skip(
            queue,
            "CKV_AWS_27",
            "encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov recognises only KMS keys",
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "this queue is itself the on-failure destination of an event-source mapping",
        )
        return queue

    def _access_log_bucket(self) -> s3.Bucket:
        # Server access logs can only be delivered to an SSE-S3 bucket, hence not KMS here.
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(90), noncurrent_version_expiration=Duration.days(1)
                )
            ],
            removal_policy=KEEP,
        )
        checkov_skip(
            bucket,
            "CKV_AWS_18",
            "this is the access-log bucket itself; logging it into itself would loop",
        )
        return bucket

    def _bucket(self, resources: Resources, spec) -> s3.Bucket:
        lifecycle = [
            s3.LifecycleRule(id="noncurrent", noncurrent_version_expiration=Duration.days(30))
        ]
        if spec.staging:
            # Staging objects are loaded within minutes; a week leaves time to replay failures.
            lifecycle = [
                s3.LifecycleRule(
                    id="staging",
                    expiration=Duration.days(7),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ]
        bucket = s3.Bucket(
            self,
            f"Bucket-{spec.id}",
            bucket_name=bucket_name(resources, spec.id),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS_MANAGED,
            bucket_key_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=lifecycle,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.id}/",
            removal_policy=KEEP,
        )
        return bucket
