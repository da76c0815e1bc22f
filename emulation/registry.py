"""Every module name the local cloud starts (`python -m ...`) or loads (`module:attribute`) by string.

A string is invisible to imports, so a moved module would only fail when the process starts. Each
such name lives here once and tests/unit/test_registry.py resolves every entry (and every
`emulation.*` name written in the repository's docs, Makefile, compose.yaml and strings).
Nothing here imports anything: any process may read it cheaply.
"""

from __future__ import annotations

# -- processes, started as `python -m <module>` -------------------------------------------------
MOTO_SERVER = "emulation.moto.server"
"""The patched moto server (`up` starts it; so do the compose harness and the benchmarks)."""
RUNTIME = "emulation.control.runtime"
"""The runtime process hosting the services below and the control HTTP server."""
LAMBDA_WORKER = "emulation.awslambda.worker"
"""One Lambda execution environment (the runtime starts one per concurrent invocation)."""
CONTAINER = "emulation.control.container"
"""The runtime image's entry point in the Docker harness (compose.yaml, Dockerfile)."""

# -- loaded by the runtime, the moto server and provisioning ------------------------------------
SERVICES: tuple[tuple[str, str], ...] = (
    ("lambda", "emulation.awslambda.service:LambdaService"),
    ("mappings", "emulation.awslambda.mappings:MappingService"),
    ("api", "emulation.apigateway.service:ApiGatewayService"),
    ("firehose", "emulation.firehose.service:FirehoseService"),
    ("glue", "emulation.glue.service:GlueRunnerService"),
    ("redshift-data", "emulation.redshift.data_api:RedshiftDataService"),
    ("console", "emulation.console.service:ConsoleService"),
)
"""The runtime's services, started in this order (`--only` / LOCALCLOUD_SERVICES pick by name)."""

PROVISION_STEPS: tuple[str, ...] = (
    "emulation.provision.core",  # streams, tables, buckets, queues, roles, functions
    "emulation.provision.warehouse",  # secrets, database users, schema migrations
    "emulation.provision.api",  # REST API, stage, API key, usage plan
    "emulation.provision.firehose",  # delivery stream record in the AWS API
    "emulation.provision.glue",  # Data Catalog database/table, job, connection
)
"""Modules exposing `provision(config, resources, names)`; `provision.runner.DEPENDS` orders them."""

TEMPLATE_PROVISION_STEPS: tuple[str, ...] = (
    "emulation.provision.core",
    "emulation.cloudformation.steps.secrets",  # values as GenerateSecretString says
    "emulation.provision.warehouse",
    "emulation.provision.api",
    "emulation.provision.firehose",
    "emulation.cloudformation.steps.glue",  # assets to S3, catalog, connection, job as declared
    "emulation.cloudformation.steps.outputs",  # the stack's Outputs, evaluated
)
"""Template mode (`up --from cdk.out`): the steps above on the translated template, with the
steps only a template needs in place of the description's Glue step."""

MOTO_PATCHES: tuple[str, ...] = (
    "emulation.moto.patches.kinesis",  # linear max-sequence scan, unlocked put_record, O(n) reads
    "emulation.moto.patches.dynamodb",  # item responses written by the generic shape walker
    "emulation.moto.patches.dynamodb_atomic",  # conditional writes not atomic under threads
    "emulation.moto.patches.responses",  # a request-id regex run over every response body
    "emulation.moto.patches.awslambda",  # Invoke -> the runtime's worker processes
    "emulation.moto.patches.glue",  # StartJobRun/GetJobRun -> the runtime's Glue runner
    "emulation.moto.patches.apigateway",  # GetExport -> the described API's OpenAPI document
    "emulation.moto.patches.lambda_mappings",  # List/GetEventSourceMapping -> the runtime's mappings
    "emulation.moto.patches.redshift_serverless",  # Redshift Serverless -> the local warehouse
    "emulation.moto.patches.redshift_data",  # Data API statements -> the warehouse stand-in
)
"""Modules exposing `apply(runtime_url)`, applied by the moto server before it serves."""

GLUE_WAREHOUSE_CONNECT = "emulation.redshift.connection:connect"
"""The Redshift stand-in a Glue job on local Spark loads through (glue_local reads the name from
GLUE_LOCAL_WAREHOUSE, which the Glue runner sets: glue_local imports nothing of emulation)."""

PIPELINE_RESOURCES = "pipeline.resources:PIPELINE"
"""The resource description a cloud provisions unless told otherwise (tests pass their own)."""

# -- command lines for people (docs, Makefile) --------------------------------------------------
CLIS: tuple[str, ...] = (
    "emulation",  # up, down, status, env, logs, faults, warehouse
    "emulation.firehose.service",  # recover: load the deliveries Firehose skipped
    "emulation.redshift.cost_report",  # make cost
    "emulation.glue.runner",  # run: start a Glue job run and wait for it
    "emulation.cloudformation.resource_types",  # the table of resource types (--write: docs)
)
