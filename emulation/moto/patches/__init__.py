"""Patches applied inside the moto server process at start (moto is pinned to 5.2.1).

Each module exposes `apply(runtime_url: str | None) -> None`; `emulation.moto.server` applies all
of `PATCHES` before serving. Each patch's docstring says what moto does wrong and how it is fixed.
"""

PATCHES = (
    "emulation.moto.patches.kinesis",   # linear max-sequence scan, unlocked put_record, O(n) reads
    "emulation.moto.patches.dynamodb",  # item responses written by the generic shape walker
    "emulation.moto.patches.responses",  # a request-id regex run over every response body
    "emulation.moto.patches.awslambda",  # Invoke -> the runtime's worker processes
    "emulation.moto.patches.glue",      # StartJobRun/GetJobRun -> the runtime's Glue runner
    "emulation.moto.patches.apigateway",  # GetExport -> the described API's OpenAPI document
    "emulation.moto.patches.lambda_mappings",  # List/GetEventSourceMapping -> the runtime's mappings
    "emulation.moto.patches.redshift_serverless",  # Redshift Serverless -> the local warehouse
)
