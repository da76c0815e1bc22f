"""A small resource description for the API gateway tests (no tests of its own).

Routes cover what the gateway must get right: a model-validated POST, path parameters (plain and
nested), a route without a key, and functions that fail or answer malformed proxy responses.
`FAST` is the same API with limits high enough to benchmark the gateway itself.
"""

from __future__ import annotations

from pipeline.resource_schema import Api, Function, Resources, Route, UsagePlan

HANDLERS = "tests.integration.api_handlers"

ORDER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "OrderBatch",
    "type": "object",
    "required": ["orders"],
    "additionalProperties": False,
    "properties": {
        "orders": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["order_id", "quantity", "price"],
                "additionalProperties": False,
                "properties": {
                    "order_id": {"type": "string", "pattern": "^[A-Z]?[0-9]{6}$"},
                    "quantity": {"type": "integer", "minimum": -1000, "maximum": 1000},
                    "price": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"},
                    "note": {"type": ["string", "null"], "maxLength": 40},
                },
            },
        }
    },
}

MODELS = {"OrderBatch": ORDER_SCHEMA}


def _description(name: str, rate: float, burst: int, quota: int, max_body: int) -> Resources:
    return Resources(
        project=name,
        streams=(),
        tables=(),
        buckets=(),
        queues=(),
        secrets=(),
        functions=(
            Function(name="echo", handler=f"{HANDLERS}.echo.handler", description="Echo the proxy event",
                     timeout_s=10, memory_mb=128, reserved_concurrency=1),
            Function(name="noop", handler=f"{HANDLERS}.noop.handler", description="Answer 200 {}",
                     timeout_s=10, memory_mb=128, reserved_concurrency=2),
            Function(name="broken", handler=f"{HANDLERS}.broken.handler",
                     description="Malformed proxy responses and errors", timeout_s=5, memory_mb=128),
        ),
        event_source_mappings=(),
        api=Api(
            name=name,
            stage="test",
            routes=(
                Route(method="POST", path="/orders", function="echo", request_model="OrderBatch"),
                Route(method="GET", path="/orders/{order_id}", function="echo"),
                Route(method="GET", path="/customers/{customer_id}/orders", function="echo"),
                Route(method="GET", path="/public", function="echo", api_key_required=False),
                Route(method="GET", path="/noop", function="noop"),
                Route(method="GET", path="/broken/{mode}", function="broken"),
            ),
            usage_plan=UsagePlan(name=f"{name}-plan", rate_limit=rate, burst_limit=burst,
                                 quota_limit=quota, api_keys=("test-client", "second-client")),
            max_body_bytes=max_body,
            models="tests.integration.test_resources_api:MODELS",
        ),
    )


RESOURCES = _description("api-gateway-test", rate=1000, burst=1000, quota=1_000_000, max_body=4096)
"""Generous limits: correctness tests that must never be throttled."""

TIGHT = _description("api-gateway-tight", rate=1, burst=3, quota=1_000_000, max_body=4096)
"""Burst of 3, one request per second after it: throttling is reachable in a test."""

QUOTA = _description("api-gateway-quota", rate=1000, burst=1000, quota=4, max_body=4096)
"""Four requests a day."""

FAST = _description("api-gateway-fast", rate=100_000, burst=100_000, quota=100_000_000, max_body=10 * 1024 * 1024)
"""For bench/gateway_throughput.py: limits that never bind."""
