"""Provision step 'core': streams, tables, buckets, queues, IAM roles and Lambda functions.

Creates, through boto3 against the local cloud's AWS endpoint, what the CDK stack creates on AWS
from the same description: Kinesis streams (shard count, retention), DynamoDB tables (on-demand,
string keys), S3 buckets (physical names from `LocalNames`), SQS queues, one IAM role per function
with an inline least-privilege policy built from the function's permissions (placeholders resolved
to ARNs, plus the stream-read and on-failure-queue grants its event-source mappings need, as CDK's
KinesisEventSource adds), and the Lambda functions themselves, so `aws lambda list-functions` and
`get-function-configuration` show the real handler, role, memory, timeout and environment.

Idempotent: a resource that exists is left alone (functions get their configuration updated, so an
edited environment reaches moto on the next `up`).

Known gaps vs AWS: in the package docstring (`emulation.provision`).
"""

from __future__ import annotations

import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor

from pipeline.resource_schema import PLACEHOLDER

LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# What the Kinesis event-source mapping reads with the function's role (AWS docs: "Lambda execution role").
STREAM_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
    "kinesis:SubscribeToShard",
)
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
POLICY_NAME = "least-privilege"


def provision(config, resources, names) -> None:
    import boto3

    from .runner import step_client_kwargs

    kwargs = step_client_kwargs(config)
    kinesis, dynamodb, s3, sqs, iam, lam = (
        boto3.client(service, **kwargs)
        for service in ("kinesis", "dynamodb", "s3", "sqs", "iam", "lambda")
    )
    code = placeholder_zip()
    # Families are independent (a function needs only its role): create them all side by side;
    # boto3 clients are thread-safe.
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [
            pool.submit(_streams, kinesis, resources),
            pool.submit(_tables, dynamodb, resources),
            pool.submit(_buckets, s3, resources, names, config.region),
            pool.submit(_queues, sqs, resources),
            *(
                pool.submit(_function_with_role, iam, lam, fn, resources, names, code)
                for fn in resources.functions
            ),
        ]
        for job in jobs:
            job.result()


def _streams(kinesis, resources) -> None:
    for stream in resources.streams:
        try:
            kinesis.create_stream(StreamName=stream.name, ShardCount=stream.shard_count)
        except kinesis.exceptions.ResourceInUseException:
            continue
        if stream.retention_hours > 24:
            kinesis.increase_stream_retention_period(
                StreamName=stream.name, RetentionPeriodHours=stream.retention_hours
            )


def _tables(dynamodb, resources) -> None:
    for table in resources.tables:
        keys = [(table.partition_key, "HASH")] + (
            [(table.sort_key, "RANGE")] if table.sort_key else []
        )
        try:
            dynamodb.create_table(
                TableName=table.name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"} for name, _ in keys
                ],
            )
        except dynamodb.exceptions.ResourceInUseException:
            pass


def _buckets(s3, resources, names, region: str) -> None:
    for bucket in resources.buckets:
        kwargs = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        try:
            s3.create_bucket(Bucket=names.bucket(bucket.id), **kwargs)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass


def _queues(sqs, resources) -> None:
    for queue in resources.queues:
        sqs.create_queue(QueueName=queue.name)  # idempotent for identical attributes


def resource_arns(kind: str, ident: str, names) -> list[str]:
    """The ARNs an IAM statement needs for `{kind:ident}` (a bucket needs itself and its objects)."""
    region, account = names.region, names.account
    if kind == "stream":
        return [names.stream_arn(ident)]
    if kind == "table":
        return [names.table_arn(ident)]
    if kind == "bucket":
        bucket = names.bucket(ident)
        return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    if kind == "queue":
        return [names.queue_arn(ident)]
    if kind == "secret":  # Secrets Manager appends a random 6-character suffix to secret ARNs
        return [f"arn:aws:secretsmanager:{region}:{account}:secret:{ident}-??????"]
    if kind == "firehose":
        return [f"arn:aws:firehose:{region}:{account}:deliverystream/{ident}"]
    raise ValueError(f"no ARN rule for placeholder kind {kind!r}")


def policy_document(function, resources, names) -> dict:
    """The inline policy of `function`'s role: its permissions plus what its mappings need."""
    statements = [{"Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": "*"}]
    for permission in function.permissions:
        match = PLACEHOLDER.fullmatch(permission.resource)
        if match is None:
            raise ValueError(
                f"function {function.name}: permission resource {permission.resource!r} must be one "
                "placeholder like '{table:invoice}'"
            )
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(permission.actions),
                "Resource": resource_arns(match.group(1), match.group(2), names),
            }
        )
    for mapping in resources.event_source_mappings:
        if mapping.function != function.name:
            continue
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(STREAM_READ_ACTIONS),
                "Resource": [names.stream_arn(mapping.stream)],
            }
        )
        if mapping.on_failure_queue:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": [names.queue_arn(mapping.on_failure_queue)],
                }
            )
    return {"Version": "2012-10-17", "Statement": statements}


def _function_with_role(iam, lam, function, resources, names, code: bytes) -> None:
    _role(iam, function, resources, names)
    _function(lam, function, names, code)


def _role(iam, function, resources, names) -> None:
    role_name = names.role_arn(function.name).rsplit("/", 1)[-1]
    try:
        iam.create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
            Description=f"Execution role of {function.name}",
        )
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    iam.put_role_policy(  # put = create or replace, so an edited permission lands
        RoleName=role_name,
        PolicyName=POLICY_NAME,
        PolicyDocument=json.dumps(policy_document(function, resources, names)),
    )


def placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "README.txt",
            "Placeholder code: the local cloud's runtime runs the repository's handlers "
            "(python -m emulation.control.runtime), not this archive.\n",
        )
    return buffer.getvalue()


def _function(lam, function, names, code: bytes) -> None:
    settings = {
        "FunctionName": function.name,
        "Role": names.role_arn(function.name),
        "Handler": function.handler,
        "Description": function.description,
        "MemorySize": function.memory_mb,
        "Timeout": function.timeout_s,
        "Environment": {"Variables": names.environment(function.name)},
    }
    try:
        lam.create_function(Runtime="python3.11", Code={"ZipFile": code}, **settings)
    except lam.exceptions.ResourceConflictException:
        lam.update_function_configuration(Runtime="python3.11", **settings)
    if function.reserved_concurrency is not None:
        lam.put_function_concurrency(
            FunctionName=function.name, ReservedConcurrentExecutions=function.reserved_concurrency
        )
