"""The schema of a resource description: what the local cloud and the CDK app can build.

`pipeline.resources.PIPELINE` is the pipeline's own description written in these models; tests
write others. Read by `emulation/` (to provision and wire the local cloud) and by `deploy/` (to
build the CDK stack), so names and settings cannot drift between the local targets and AWS.
Nothing here talks to AWS; it is plain data with validation of the ranges AWS enforces.

Environment values may reference other resources with `{kind:id}` placeholders
(`{stream:sales-events}`, `{table:invoice}`, `{bucket:raw-archive}`, `{queue:...}`,
`{secret:...}`); each target resolves them with `resolve_placeholders` to its own physical names
(plain strings locally, CloudFormation tokens in CDK).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PLACEHOLDER = re.compile(r"\{(stream|table|bucket|queue|secret|firehose):([A-Za-z0-9._-]+)\}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stream(_Model):
    name: str
    """Kinesis stream name (physical name, identical on every target)."""
    shard_count: int = Field(ge=1, le=500)
    retention_hours: int = Field(default=24, ge=24, le=8760)


class Table(_Model):
    name: str
    """DynamoDB table name."""
    partition_key: str
    """String partition key attribute."""
    sort_key: str | None = None


class Bucket(_Model):
    id: str
    """Logical id used in placeholders (`{bucket:raw-archive}`)."""
    name_prefix: str
    """Bucket names are global on AWS: the physical name is `<prefix>-<account>-<region>`."""
    staging: bool = False
    """Staging data (Firehose intermediate, Glue temp): a lifecycle rule expires it."""

    def physical_name(self, account: str, region: str) -> str:
        return f"{self.name_prefix}-{account}-{region}"


class Queue(_Model):
    name: str
    """SQS queue name; used as the on-failure destination of event-source mappings."""


class Secret(_Model):
    name: str
    """Secrets Manager secret name; the value (a JSON document) is generated, never written here."""
    username: str
    """Database user the secret holds credentials for."""
    description: str


class Permission(_Model):
    """One IAM grant: the actions a function's code performs on one resource."""

    actions: tuple[str, ...]
    resource: str
    """A placeholder naming the resource, e.g. `{table:invoice}`."""


class Function(_Model):
    name: str
    handler: str
    """`package.module.function`, the same string on every target."""
    description: str
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_s: int = Field(default=30, ge=1, le=900)
    environment: dict[str, str] = Field(default_factory=dict)
    permissions: tuple[Permission, ...] = ()
    reserved_concurrency: int | None = Field(default=None, ge=1)
    """Upper bound on concurrent workers (locally: worker processes)."""


StartingPosition = Literal["TRIM_HORIZON", "LATEST"]


class EventSourceMapping(_Model):
    function: str
    stream: str
    batch_size: int = Field(default=100, ge=1, le=10000)
    maximum_batching_window_s: int = Field(default=0, ge=0, le=300)
    starting_position: StartingPosition = "TRIM_HORIZON"
    bisect_batch_on_function_error: bool = True
    maximum_retry_attempts: int = Field(default=-1, ge=-1, le=10000)
    """-1 retries until the record expires, as on AWS."""
    maximum_record_age_s: int = Field(default=-1, ge=-1, le=604800)
    """-1 means no limit; otherwise 60..604800 on AWS."""
    report_batch_item_failures: bool = True
    on_failure_queue: str | None = None
    parallelization_factor: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _record_age_range(self) -> EventSourceMapping:
        if self.maximum_record_age_s != -1 and self.maximum_record_age_s < 60:
            raise ValueError("maximum_record_age_s must be -1 or 60..604800 (AWS range)")
        return self


HttpMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]


class Route(_Model):
    method: HttpMethod
    path: str
    """API Gateway resource path, with `{param}` segments."""
    function: str
    request_model: str | None = None
    """Name of a JSON-schema model (see `pipeline.api_models`) the body must satisfy."""
    api_key_required: bool = True
    path_patterns: dict[str, str] = Field(default_factory=dict)
    """Regex each path parameter must match (400 otherwise); checked by the function."""
    query_patterns: dict[str, str] = Field(default_factory=dict)
    """Optional query parameters and the regex each must match (400 otherwise); checked by the function."""
    answers: dict[str, str] = Field(default_factory=lambda: {"200": "The function's answer"})
    """HTTP status -> when the function answers it (published in the OpenAPI document, with the
    statuses API Gateway itself answers)."""


class UsagePlan(_Model):
    name: str
    rate_limit: float = Field(gt=0)
    """Steady-state requests per second (token bucket refill)."""
    burst_limit: int = Field(ge=1)
    quota_limit: int = Field(ge=1)
    quota_period: Literal["DAY", "WEEK", "MONTH"] = "DAY"
    api_keys: tuple[str, ...] = ("replay-client",)


class Api(_Model):
    name: str
    stage: str
    routes: tuple[Route, ...]
    usage_plan: UsagePlan
    max_body_bytes: int = 10 * 1024 * 1024
    """API Gateway's payload limit (10 MB)."""
    models: str = "pipeline.api_models:REQUEST_MODELS"
    """`module:attribute` of a dict name -> draft-04 JSON Schema (API Gateway models)."""


class FirehoseDelivery(_Model):
    name: str
    source_stream: str
    staging_bucket: str
    """Bucket logical id for the S3 intermediate objects."""
    prefix: str = "firehose/"
    errors_prefix: str = "firehose-errors/"
    buffer_size_mb: int = Field(default=64, ge=1, le=128)
    buffer_interval_s: int = Field(default=60, ge=0, le=900)
    retry_duration_s: int = Field(default=3600, ge=0, le=7200)
    table: str
    """Warehouse table the COPY loads (schema-qualified)."""
    columns: tuple[str, ...]
    copy_options: str = "FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto'"
    loader_secret: str
    """Secret with the dedicated database user Firehose connects as."""


class Warehouse(_Model):
    database: str
    admin_secret: str
    base_rpu: int = Field(default=8, ge=8, le=512)
    max_rpu_hours_per_day: int = Field(default=24, ge=1)
    """Usage limit on AWS: the workgroup stops serving past it."""
    schema_files: tuple[str, ...]
    """Redshift SQL files (paths relative to the repository root), applied in order."""


class GlueColumn(_Model):
    name: str
    type: str
    """Hive type as the Data Catalog stores it (string, bigint, boolean, ...)."""


class GlueTable(_Model):
    database: str
    name: str
    bucket: str
    """Bucket logical id holding the data."""
    prefix: str
    columns: tuple[GlueColumn, ...]
    partition_keys: tuple[GlueColumn, ...]
    classification: str = "json"
    compression: str = "gzip"


class GlueJob(_Model):
    name: str
    script: str
    """Path of the job script relative to the repository root."""
    glue_version: str = "5.0"
    worker_type: str = "G.1X"
    number_of_workers: int = 2
    timeout_min: int = 60
    temp_bucket: str
    """Bucket logical id for `--TempDir` / `redshift_tmp_dir`."""
    default_arguments: dict[str, str] = Field(default_factory=dict)
    warehouse_secret: str | None = None
    """Secret of the dedicated warehouse user the job's connection logs in as (never the admin);
    its grants: `pipeline.grants`."""


class Resources(_Model):
    project: str
    region: str = "us-east-1"
    streams: tuple[Stream, ...]
    tables: tuple[Table, ...]
    buckets: tuple[Bucket, ...]
    queues: tuple[Queue, ...]
    secrets: tuple[Secret, ...]
    functions: tuple[Function, ...]
    event_source_mappings: tuple[EventSourceMapping, ...]
    api: Api
    firehoses: tuple[FirehoseDelivery, ...] = ()
    warehouse: Warehouse | None = None
    glue_tables: tuple[GlueTable, ...] = ()
    glue_jobs: tuple[GlueJob, ...] = ()

    @property
    def required_warehouse(self) -> Warehouse:
        """The warehouse, for code that deploys or reads one: a description without one is an error there."""
        if self.warehouse is None:
            raise ValueError("the resource description declares no warehouse")
        return self.warehouse

    @model_validator(mode="after")
    def _references_exist(self) -> Resources:
        """Every reference names a declared resource, so a typo fails here, not at deploy."""
        streams = {s.name for s in self.streams}
        functions = {f.name for f in self.functions}
        queues = {q.name for q in self.queues}
        buckets = {b.id for b in self.buckets}
        secrets = {s.name for s in self.secrets}
        known = {
            "stream": streams,
            "table": {t.name for t in self.tables},
            "bucket": buckets,
            "queue": queues,
            "secret": secrets,
            "firehose": {f.name for f in self.firehoses},
        }
        problems: list[str] = []
        for fn in self.functions:
            texts = list(fn.environment.values()) + [p.resource for p in fn.permissions]
            for text in texts:
                for kind, ident in PLACEHOLDER.findall(text):
                    if ident not in known[kind]:
                        problems.append(f"function {fn.name}: unknown {kind} {ident!r}")
        for m in self.event_source_mappings:
            if m.function not in functions:
                problems.append(f"mapping: unknown function {m.function!r}")
            if m.stream not in streams:
                problems.append(f"mapping: unknown stream {m.stream!r}")
            if m.on_failure_queue and m.on_failure_queue not in queues:
                problems.append(f"mapping: unknown queue {m.on_failure_queue!r}")
        for r in self.api.routes:
            if r.function not in functions:
                problems.append(f"route {r.method} {r.path}: unknown function {r.function!r}")
        for fh in self.firehoses:
            if fh.source_stream not in streams:
                problems.append(f"firehose {fh.name}: unknown stream {fh.source_stream!r}")
            if fh.staging_bucket not in buckets:
                problems.append(f"firehose {fh.name}: unknown bucket {fh.staging_bucket!r}")
            if fh.loader_secret not in secrets:
                problems.append(f"firehose {fh.name}: unknown secret {fh.loader_secret!r}")
        for gt in self.glue_tables:
            if gt.bucket not in buckets:
                problems.append(f"glue table {gt.name}: unknown bucket {gt.bucket!r}")
        for job in self.glue_jobs:
            if job.temp_bucket not in buckets:
                problems.append(f"glue job {job.name}: unknown bucket {job.temp_bucket!r}")
            if job.warehouse_secret and job.warehouse_secret not in secrets:
                problems.append(f"glue job {job.name}: unknown secret {job.warehouse_secret!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def function(self, name: str) -> Function:
        return _by(self.functions, "name", name, "function")

    def stream(self, name: str) -> Stream:
        return _by(self.streams, "name", name, "stream")

    def bucket(self, ident: str) -> Bucket:
        return _by(self.buckets, "id", ident, "bucket")

    def firehose(self, name: str) -> FirehoseDelivery:
        return _by(self.firehoses, "name", name, "firehose")

    def glue_job(self, name: str) -> GlueJob:
        return _by(self.glue_jobs, "name", name, "glue job")


def _by(items, attr: str, value: str, kind: str):
    for item in items:
        if getattr(item, attr) == value:
            return item
    raise KeyError(f"no {kind} named {value!r} in the resource description")


def resolve_placeholders(text: str, resolver) -> str:
    """Replace `{kind:id}` with `resolver(kind, id)` (a physical name or an ARN)."""
    return PLACEHOLDER.sub(lambda m: resolver(m.group(1), m.group(2)), text)
