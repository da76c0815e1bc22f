"""Resource description for the Lambda runtime and event-source-mapping tests.

Built with the same models as `pipeline.resources.PIPELINE` (so provisioning and the runtime read
it the same way), with its own streams, functions, mappings and queues: one stream per scenario so
the scenarios never see each other's records.
"""

from pipeline.resource_schema import (
    Api,
    EventSourceMapping,
    Function,
    Queue,
    Resources,
    Route,
    Stream,
    Table,
    UsagePlan,
)

HANDLERS = "tests.integration.sample_handlers"
RECORDER = f"{HANDLERS}.recorder.handler"
RECORDED = {"RECORD_TABLE": "{table:lambda-test-batches}"}


def _recorder(name: str, handler: str = RECORDER, **extra) -> Function:
    return Function(
        name=name,
        handler=handler,
        description=f"test consumer {name}",
        environment=RECORDED,
        timeout_s=30,
        **extra,
    )


RESOURCES = Resources(
    project="lambda-runtime-tests",
    streams=(
        Stream(name="t-batching", shard_count=1),
        Stream(name="t-window", shard_count=1),
        Stream(name="t-ordering", shard_count=2),
        Stream(name="t-partial", shard_count=1),
        Stream(name="t-poison", shard_count=1),
        Stream(name="t-fanout", shard_count=2),
        Stream(name="t-restart", shard_count=1),
        Stream(name="t-shape", shard_count=1),
        Stream(name="t-bench", shard_count=1),
    ),
    tables=(Table(name="lambda-test-batches", partition_key="request_id"),),
    buckets=(),
    queues=(Queue(name="t-poison-failures"),),
    secrets=(),
    functions=(
        Function(
            name="echo",
            handler=f"{HANDLERS}.echo.handler",
            description="echo",
            memory_mb=256,
            timeout_s=5,
            environment={"GREETING_TABLE": "{table:lambda-test-batches}"},
        ),
        Function(
            name="stateful",
            handler=f"{HANDLERS}.module_state.handler",
            description="state",
            reserved_concurrency=1,
        ),
        Function(
            name="sleepy",
            handler=f"{HANDLERS}.sleep.handler",
            description="sleep",
            timeout_s=1,
            reserved_concurrency=2,
        ),
        Function(
            name="broken", handler=f"{HANDLERS}.broken_import.handler", description="init error"
        ),
        Function(
            name="noop",
            handler=f"{HANDLERS}.noop.handler",
            description="bench consumer",
            memory_mb=1024,
            timeout_s=120,
        ),
        _recorder("rec-batching"),
        _recorder("rec-window"),
        _recorder("rec-ordering"),
        _recorder("rec-partial", handler=f"{HANDLERS}.partial.handler"),
        _recorder("rec-poison", handler=f"{HANDLERS}.fail_on_poison.handler"),
        _recorder("rec-fan-a"),
        _recorder("rec-fan-b"),
        _recorder("rec-restart"),
        _recorder("rec-shape", handler=f"{HANDLERS}.recorder.raw_handler"),
    ),
    event_source_mappings=(
        EventSourceMapping(function="rec-batching", stream="t-batching", batch_size=10),
        EventSourceMapping(
            function="rec-window", stream="t-window", batch_size=1000, maximum_batching_window_s=2
        ),
        EventSourceMapping(function="rec-ordering", stream="t-ordering", batch_size=7),
        EventSourceMapping(
            function="rec-partial",
            stream="t-partial",
            batch_size=10,
            bisect_batch_on_function_error=False,
            maximum_retry_attempts=3,
        ),
        EventSourceMapping(
            function="rec-poison",
            stream="t-poison",
            batch_size=8,
            maximum_retry_attempts=2,
            on_failure_queue="t-poison-failures",
        ),
        EventSourceMapping(function="rec-fan-a", stream="t-fanout", batch_size=100),
        EventSourceMapping(function="rec-fan-b", stream="t-fanout", batch_size=33),
        EventSourceMapping(function="rec-restart", stream="t-restart", batch_size=5),
        EventSourceMapping(function="rec-shape", stream="t-shape", batch_size=2),
        EventSourceMapping(function="noop", stream="t-bench", batch_size=10000),
    ),
    api=Api(
        name="lambda-test-api",
        stage="test",
        routes=(Route(method="GET", path="/echo", function="echo", api_key_required=False),),
        usage_plan=UsagePlan(
            name="lambda-tests", rate_limit=100, burst_limit=100, quota_limit=1000
        ),
    ),
)
