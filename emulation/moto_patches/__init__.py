"""Patches applied inside the moto server process at start (moto is pinned to 5.2.1).

Each module exposes `apply(runtime_url: str | None) -> None`; `emulation.moto_server` applies all
of `PATCHES` before serving. Each patch's docstring says what moto does wrong and how it is fixed.
"""

PATCHES = (
    "emulation.moto_patches.kinesis",   # linear max-sequence scan, unlocked put_record, O(n) reads
    "emulation.moto_patches.dynamodb",  # item responses written by the generic shape walker
    "emulation.moto_patches.responses",  # a request-id regex run over every response body
    "emulation.moto_patches.awslambda",  # Invoke -> the runtime's worker processes
    "emulation.moto_patches.glue",      # StartJobRun/GetJobRun -> the runtime's Glue runner
    "emulation.moto_patches.apigateway",  # GetExport -> the described API's OpenAPI document
    "emulation.moto_patches.lambda_mappings",  # List/GetEventSourceMapping -> the runtime's mappings
    "emulation.moto_patches.redshift_serverless",  # Redshift Serverless -> the local warehouse
)
