"""The resource description extended with what only a synthesized template carries.

`translate.describe` builds these from a template; every provisioning step and runtime service
takes them where it takes `pipeline.resources` objects (they are subclasses), and the few places
that must run the artifact instead of the working tree ask for the extra fields: a function's code
asset and layers (the Lambda service), the API's models inline (the gateway), the Glue job's script
asset and assets by S3 location (the Glue step and runner), a secret's GenerateSecretString, and
why Firehose cannot reach the warehouse, if it cannot.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.resource_schema import (
    Api,
    Bucket,
    FirehoseDelivery,
    Function,
    GlueJob,
    Resources,
    Secret,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AssetFunction(Function):
    """A Lambda function that runs from its code asset folder plus its layers' folders."""

    code_dir: str
    layer_dirs: tuple[str, ...] = ()
    runtime: str = "python3.11"


class NamedBucket(Bucket):
    """A bucket whose name the template fixes (the description's rule is not needed)."""

    name: str

    def physical_name(self, account: str, region: str) -> str:
        return self.name


class InlineModelsApi(Api):
    """The REST API with its request models as the template declares them (`Api.models` names a
    module of the working tree instead)."""

    models: dict[str, dict]  # type: ignore[assignment]


class GeneratedSecret(Secret):
    """A secret whose value CloudFormation generates (`GenerateSecretString`) or is given."""

    generate: dict | None = None
    secret_string: str | None = None


class ReachableFirehose(FirehoseDelivery):
    """A delivery stream with the verdict of AWS's network rule for its Redshift destination."""

    unreachable: str | None = None
    """Why Firehose cannot connect to the workgroup (every COPY then fails as on AWS), or None."""


class ScriptJob(GlueJob):
    """A Glue job that runs its script asset with the template's DefaultArguments verbatim."""

    script_location: str
    """`s3://bucket/key` of the script, as the template says."""
    connections: tuple[str, ...] = ()
    max_concurrent_runs: int = 1


class Asset(_Model):
    bucket: str
    key: str
    path: str
    """The file, or the folder CDK zips on upload, in `cdk.out`."""
    packaging: str = "file"


class GlueConnection(_Model):
    name: str
    connection_type: str
    properties: dict[str, str]
    """ConnectionProperties as evaluated; a JDBC URL naming the workgroup is rewritten locally."""
    description: str = ""


class NotRun(_Model):
    """A resource of the template the local cloud does not run, with the reason."""

    logical_id: str
    resource_type: str
    reason: str


class TemplateResources(Resources):
    """The description of a deployed template (see the module docstring)."""

    assembly: str
    """The cloud assembly folder (`cdk.out`)."""
    stack_name: str
    assets: tuple[Asset, ...] = ()
    glue_databases: tuple[str, ...] = ()
    glue_table_inputs: dict[str, dict] = Field(default_factory=dict)
    """`database.table` -> TableInput exactly as the template gives it (evaluated)."""
    glue_connections: tuple[GlueConnection, ...] = ()
    warehouse_endpoint: str | None = None
    """The workgroup's endpoint address, served by the local warehouse."""
    warehouse_port: int = 5439
    not_run: tuple[NotRun, ...] = ()
    problems: tuple[str, ...] = ()
    """AWS-documented constraints the template breaks (start-up prints them)."""

    def asset_at(self, location: str) -> Asset:
        """The asset published at `s3://bucket/key` (KeyError naming it otherwise)."""
        bucket, _, key = location.removeprefix("s3://").partition("/")
        for asset in self.assets:
            if asset.bucket == bucket and asset.key == key:
                return asset
        raise KeyError(f"no asset of {self.assembly} is published at {location}")
