"""The one description of the pipeline's cloud resources.

Read by `emulation/` (to provision and wire the local cloud) and by `deploy/` (to build the CDK
stack), so names and settings cannot drift between the local targets and AWS. Nothing here talks
to AWS; it is plain data with validation of the ranges AWS enforces.

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


# ---------------------------------------------------------------------------------------------
# The pipeline itself.

STREAM = "sales-events"
ARCHIVE_PREFIX = "raw/sales_events/"

_EVENT_COLUMNS = (
    GlueColumn(name="event_id", type="string"),
    GlueColumn(name="invoice_no", type="string"),
    GlueColumn(name="stock_code", type="string"),
    GlueColumn(name="description", type="string"),
    GlueColumn(name="quantity", type="bigint"),
    GlueColumn(name="invoice_date", type="string"),
    GlueColumn(name="unit_price", type="string"),
    GlueColumn(name="customer_id", type="string"),
    GlueColumn(name="country", type="string"),
    GlueColumn(name="line_total", type="string"),
    GlueColumn(name="is_cancellation", type="boolean"),
)

def _query_answers(bad_request: str, not_found: str) -> dict[str, str]:
    return {
        "200": "The item, as JSON",
        "400": bad_request,
        "404": not_found,
        "500": "The function is misconfigured (a table variable is missing)",
    }


PIPELINE = Resources(
    project="ecommerce-pipeline",
    streams=(Stream(name=STREAM, shard_count=2),),
    tables=(
        Table(name="customer", partition_key="customer_id"),
        Table(name="invoice", partition_key="invoice_no"),
    ),
    buckets=(
        Bucket(id="raw-archive", name_prefix="ecommerce-raw-archive"),
        Bucket(id="firehose-staging", name_prefix="ecommerce-firehose-staging", staging=True),
        Bucket(id="glue-temp", name_prefix="ecommerce-glue-temp", staging=True),
    ),
    queues=(
        Queue(name="sales-projector-failures"),
        Queue(name="sales-archiver-failures"),
    ),
    secrets=(
        Secret(
            name="ecommerce/warehouse/admin",
            username="warehouse_admin",
            description="Warehouse admin (migrations, Glue loads)",
        ),
        Secret(
            name="ecommerce/warehouse/firehose",
            username="firehose_loader",
            description="Dedicated Firehose user: may only load stream.sales_events",
        ),
    ),
    functions=(
        Function(
            name="sales-ingest",
            handler="pipeline.handlers.ingest.handler",
            description="POST /events: validate sale events and put them on the stream",
            environment={"STREAM_NAME": "{stream:sales-events}"},
            permissions=(
                Permission(actions=("kinesis:PutRecords",), resource="{stream:sales-events}"),
            ),
            reserved_concurrency=4,
        ),
        Function(
            name="sales-projector",
            handler="pipeline.handlers.project.handler",
            description="Kinesis consumer: upsert the invoice and customer tables",
            timeout_s=60,
            environment={
                "INVOICE_TABLE": "{table:invoice}",
                "CUSTOMER_TABLE": "{table:customer}",
            },
            permissions=(
                Permission(
                    actions=("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"),
                    resource="{table:invoice}",
                ),
                Permission(
                    actions=("dynamodb:BatchGetItem", "dynamodb:PutItem"),
                    resource="{table:customer}",
                ),
            ),
        ),
        Function(
            name="sales-archiver",
            handler="pipeline.handlers.archive.handler",
            description="Kinesis consumer: archive raw events to S3 as gzip JSON lines",
            timeout_s=60,
            environment={
                "ARCHIVE_BUCKET": "{bucket:raw-archive}",
                "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
            },
            permissions=(
                # Get/Delete: the per-batch manifest that removes objects a bisected retry left.
                Permission(
                    actions=("s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
                    resource="{bucket:raw-archive}",
                ),
            ),
        ),
        Function(
            name="sales-query",
            handler="pipeline.handlers.query.handler",
            description="GET invoices and customers from DynamoDB",
            environment={
                "INVOICE_TABLE": "{table:invoice}",
                "CUSTOMER_TABLE": "{table:customer}",
            },
            permissions=(
                Permission(actions=("dynamodb:GetItem", "dynamodb:BatchGetItem"), resource="{table:invoice}"),
                Permission(actions=("dynamodb:GetItem",), resource="{table:customer}"),
            ),
            reserved_concurrency=4,
        ),
    ),
    event_source_mappings=(
        EventSourceMapping(
            function="sales-projector",
            stream=STREAM,
            # ~1,000 records (~0.7 MB event) per invocation: half the invocations and table reads
            # of 500; its ~40 customer writes run in parallel, so a batch still takes ~1 s on AWS.
            # No batching window: a backlog fills batches anyway, and a quiet stream should not
            # wait a second before its events are readable (the API serves these tables).
            batch_size=1000,
            maximum_batching_window_s=0,
            maximum_retry_attempts=5,
            maximum_record_age_s=86400,
            on_failure_queue="sales-projector-failures",
        ),
        EventSourceMapping(
            function="sales-archiver",
            stream=STREAM,
            batch_size=2000,
            maximum_batching_window_s=2,
            maximum_retry_attempts=5,
            maximum_record_age_s=86400,
            on_failure_queue="sales-archiver-failures",
        ),
    ),
    api=Api(
        name="ecommerce-api",
        stage="v1",
        routes=(
            Route(
                method="POST",
                path="/events",
                function="sales-ingest",
                request_model="SaleEventBatch",
                answers={
                    "200": "Every event is on the stream (ids, sequence numbers and shards listed)",
                    "400": "An event breaks a rule the model cannot express (e.g. a date that does "
                    "not exist): every bad event listed by index; nothing was written",
                    "500": "The function is misconfigured or the stream refuses writes; nothing was written",
                    "503": "Some events could not be written after retries: resend those under 'failed' "
                    "(Retry-After)",
                },
            ),
            Route(
                method="GET",
                path="/invoices/{invoice_no}",
                function="sales-query",
                path_patterns={"invoice_no": r"^[A-Z]?[0-9]{6}$"},
                answers=_query_answers("invoice_no does not match its pattern", "No such invoice"),
            ),
            Route(
                method="GET",
                path="/customers/{customer_id}",
                function="sales-query",
                path_patterns={"customer_id": r"^[0-9]{1,10}$"},
                answers=_query_answers("customer_id does not match its pattern", "No such customer"),
            ),
            Route(
                method="GET",
                path="/customers/{customer_id}/invoices",
                function="sales-query",
                path_patterns={"customer_id": r"^[0-9]{1,10}$"},
                # limit: a whole number 1..1000 in at most four digits, as the function reads it.
                query_patterns={"limit": r"^(0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|1000)$",
                                "next": r"^[A-Za-z0-9_-]{1,512}$"},
                answers=_query_answers("customer_id, limit or next is invalid", "No such customer"),
            ),
        ),
        usage_plan=UsagePlan(
            name="replay-clients", rate_limit=200, burst_limit=400, quota_limit=5_000_000
        ),
    ),
    firehoses=(
        FirehoseDelivery(
            name="sales-to-warehouse",
            source_stream=STREAM,
            staging_bucket="firehose-staging",
            buffer_size_mb=64,
            buffer_interval_s=60,
            retry_duration_s=3600,
            table="stream.sales_events",
            columns=tuple(c.name for c in _EVENT_COLUMNS),
            loader_secret="ecommerce/warehouse/firehose",
            # MAXERROR: a stray bad record is reported (STL_LOAD_ERRORS) and the rest loads; a
            # systematically broken batch still fails the COPY (Redshift's default is 0).
            copy_options="FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto' MAXERROR 1000",
        ),
    ),
    warehouse=Warehouse(
        database="ecommerce",
        admin_secret="ecommerce/warehouse/admin",
        schema_files=("pipeline/warehouse/schema.sql",),
    ),
    glue_tables=(
        GlueTable(
            database="ecommerce",
            name="raw_sales_events",
            bucket="raw-archive",
            prefix=ARCHIVE_PREFIX,
            columns=_EVENT_COLUMNS,
            partition_keys=(GlueColumn(name="event_date", type="string"),),
        ),
    ),
    glue_jobs=(
        GlueJob(
            name="sales-batch-load",
            script="pipeline/glue/sales_batch_job.py",
            temp_bucket="glue-temp",
            default_arguments={
                "--job-bookmark-option": "job-bookmark-enable",
                "--DATABASE": "ecommerce",
                "--TABLE": "raw_sales_events",
                "--TARGET_TABLE": "analytics.sales",
                "--QUARANTINE_TABLE": "analytics.sales_quarantine",
                "--REDSHIFT_CONNECTION": "ecommerce-warehouse",
            },
        ),
    ),
)
