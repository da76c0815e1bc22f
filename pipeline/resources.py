"""The pipeline's own cloud resources: streams, tables, functions, API, Firehose, warehouse, Glue.

The one description both targets build from (the local cloud provisions it, `deploy/` synthesizes
the CDK stack from it; a drift test holds the template to it). The models and their rules are in
`pipeline.resource_schema`; the Glue job's full arguments follow from it in
`pipeline.glue_job_arguments`.
"""

from __future__ import annotations

from pipeline.fields import RECORD_FIELDS
from pipeline.resource_schema import (
    Api,
    Bucket,
    EventSourceMapping,
    FirehoseDelivery,
    Function,
    GlueColumn,
    GlueJob,
    GlueTable,
    Permission,
    Queue,
    Resources,
    Route,
    Secret,
    Stream,
    Table,
    UsagePlan,
    Warehouse,
)

STREAM = "sales-events"
ARCHIVE_PREFIX = "raw/sales_events/"

# The archive lines' fields as the Data Catalog types them: text unless the JSON value is not a string.
_HIVE_TYPES = {"quantity": "bigint", "is_cancellation": "boolean"}
_EVENT_COLUMNS = tuple(
    GlueColumn(name=field, type=_HIVE_TYPES.get(field, "string")) for field in RECORD_FIELDS
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
        # One item per (customer, invoice): a customer may have any number of invoices
        # (pipeline.customers); an invoice's page items: one for a normal invoice, more only
        # past DynamoDB's 400 KB item limit (pipeline.invoice_pages). docs/tables.md.
        Table(name="customer", partition_key="customer_id", sort_key="invoice_no"),
        Table(name="invoice", partition_key="invoice_no", sort_key="page"),
        # One item per (source file, block of 1,000 line numbers): the content digest each event
        # id was first accepted with (pipeline.claims); a different version is refused.
        Table(name="event_claim", partition_key="id_block"),
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
            description="Warehouse admin (migrations, users and grants)",
        ),
        Secret(
            name="ecommerce/warehouse/firehose",
            username="firehose_loader",
            description="Dedicated Firehose user: may only load stream.sales_events",
        ),
        Secret(
            name="ecommerce/warehouse/glue",
            username="glue_loader",
            description="Dedicated Glue job user: loads analytics.sales and its quarantine via staging tables",
        ),
    ),
    functions=(
        Function(
            name="sales-ingest",
            handler="pipeline.handlers.ingest.handler",
            description="POST /events: validate sale events and put them on the stream",
            environment={
                "STREAM_NAME": "{stream:sales-events}",
                "CLAIM_TABLE": "{table:event_claim}",
            },
            permissions=(
                Permission(actions=("kinesis:PutRecords",), resource="{stream:sales-events}"),
                Permission(
                    actions=("dynamodb:BatchGetItem", "dynamodb:UpdateItem"),
                    resource="{table:event_claim}",
                ),
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
                # Query and UpdateItem: only for an invoice spread over several page items.
                Permission(
                    actions=(
                        "dynamodb:BatchGetItem",
                        "dynamodb:BatchWriteItem",
                        "dynamodb:Query",
                        "dynamodb:UpdateItem",
                    ),
                    resource="{table:invoice}",
                ),
                Permission(actions=("dynamodb:BatchWriteItem",), resource="{table:customer}"),
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
                Permission(
                    actions=("dynamodb:GetItem", "dynamodb:BatchGetItem"),
                    resource="{table:invoice}",
                ),
                Permission(actions=("dynamodb:Query",), resource="{table:customer}"),
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
                    "400": "An event breaks a rule the model cannot express (one event id twice in "
                    "the batch with different content): every bad event listed by index; nothing "
                    "was written",
                    "409": "An event id was already accepted with different content (an event id "
                    "names one immutable event): those events listed by index; nothing was written",
                    "500": "The function is misconfigured or the stream refuses writes; nothing was written",
                    "503": "Some events could not be written after retries: resend those under 'failed' "
                    "(Retry-After); or the event ids could not be claimed: nothing was written, "
                    "resend the batch",
                },
            ),
            Route(
                method="GET",
                path="/invoices/{invoice_no}",
                function="sales-query",
                path_patterns={"invoice_no": r"^[A-Z]?[0-9]{6}$"},
                # next: the token of the previous page of an invoice stored over several items.
                query_patterns={"next": r"^[1-9][0-9]{0,5}\.[0-9a-f]{24}$"},
                answers={
                    **_query_answers("invoice_no or next is invalid", "No such invoice"),
                    "409": "The invoice changed between two pages of one reading: read it again "
                    "from the first page (without next)",
                    "503": "DynamoDB left part of the read unprocessed: retry (Retry-After)",
                },
            ),
            Route(
                method="GET",
                path="/customers/{customer_id}",
                function="sales-query",
                path_patterns={"customer_id": r"^[0-9]{1,10}$"},
                answers=_query_answers(
                    "customer_id does not match its pattern", "No such customer"
                ),
            ),
            Route(
                method="GET",
                path="/customers/{customer_id}/invoices",
                function="sales-query",
                path_patterns={"customer_id": r"^[0-9]{1,10}$"},
                # limit: a whole number 1..1000 in at most four digits, as the function reads it.
                query_patterns={
                    "limit": r"^(0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|1000)$",
                    "next": r"^[A-Za-z0-9_-]{1,512}$",
                },
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
            columns=RECORD_FIELDS,
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
            warehouse_secret="ecommerce/warehouse/glue",
        ),
    ),
)
