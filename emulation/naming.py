"""Physical names and ARNs of the described resources in the local cloud.

The CDK app resolves the same `{kind:id}` placeholders to CloudFormation tokens; here they become
the strings moto knows (account 123456789012, the configured region).
"""

from __future__ import annotations

from pipeline.resource_schema import Resources, resolve_placeholders

from .config import ACCOUNT_ID, CloudConfig, load_resources


class LocalNames:
    def __init__(self, resources: Resources, region: str, account: str = ACCOUNT_ID):
        self.resources = resources
        self.region = region
        self.account = account

    def bucket(self, ident: str) -> str:
        return self.resources.bucket(ident).physical_name(self.account, self.region)

    def stream_arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account}:stream/{name}"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def queue_url(self, name: str, endpoint: str) -> str:
        return f"{endpoint}/{self.account}/{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def role_arn(self, function: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{function}-role"

    def physical(self, kind: str, ident: str) -> str:
        """The name a function's code sees for `{kind:ident}` (what its environment holds)."""
        if kind == "bucket":
            return self.bucket(ident)
        return ident

    def environment(self, function: str) -> dict[str, str]:
        fn = self.resources.function(function)
        return {k: resolve_placeholders(v, self.physical) for k, v in fn.environment.items()}


class DescribedCloud:
    """What a cloud with a `config` (CloudConfig) offers about its description: the started
    embedded cloud (`emulation.control.cloud`) and an attached stack (`emulation.control.attached`) alike."""

    config: CloudConfig

    @property
    def resources(self) -> Resources:
        """The resource description this cloud provisions (`config.resources`)."""
        return load_resources(self.config.resources)

    @property
    def names(self) -> LocalNames:
        """Physical names and ARNs of the described resources in this cloud."""
        return LocalNames(self.resources, self.config.region)
