"""Physical names of the described resources on AWS, as CloudFormation tokens.

The local cloud resolves `{kind:id}` placeholders with `emulation.naming.LocalNames`; this module is
the AWS counterpart. Names are the description's own (stream, tables, queues, functions, secrets)
and bucket names follow `Bucket.physical_name` with the account and region tokens, so the replay
client and the local cloud compute the same names by the same rule.
"""

from __future__ import annotations

from aws_cdk import Aws

from pipeline.resource_schema import Resources


def bucket_name(resources: Resources, ident: str) -> str:
    return resources.bucket(ident).physical_name(Aws.ACCOUNT_ID, Aws.REGION)


def warehouse_name(resources: Resources) -> str:
    """Redshift Serverless namespace and workgroup name (lowercase, hyphens: the project name)."""
    return resources.project


class AwsNames:
    """Resolve placeholders against the stack's constructs (tokens, so CloudFormation orders them)."""

    def __init__(self, streams, tables, buckets, queues, secrets, firehoses=None):
        self._by_kind = {
            "stream": {k: v.stream_name for k, v in streams.items()},
            "table": {k: v.table_name for k, v in tables.items()},
            "bucket": {k: v.bucket_name for k, v in buckets.items()},
            "queue": {k: v.queue_name for k, v in queues.items()},
            "secret": {k: v.secret_name for k, v in secrets.items()},
            "firehose": dict(firehoses or {}),
        }

    def physical(self, kind: str, ident: str) -> str:
        try:
            return self._by_kind[kind][ident]
        except KeyError:
            raise KeyError(
                f"no {kind} {ident!r} in the stack (is it in pipeline/resources.py?)"
            ) from None
