"""Kinesis event-source mappings: read each shard of a stream and invoke a Lambda function with
batches of its records, as AWS Lambda's event-source mappings for Kinesis (standard iterators) do.

Per mapping of the resource description:
- a poller thread per shard (`emulation.awslambda.shard_poller`; several mappings on one stream each keep
  their own position); records of a shard are delivered in order, one batch at a time;
- `BatchSize` records, the 6 MB invocation payload, or `MaximumBatchingWindowInSeconds` after the
  first record arrived, whichever comes first, closes a batch (window 0: invoke as soon as records
  are read);
- `StartingPosition` TRIM_HORIZON or LATEST applies when the mapping has no checkpoint;
- the outcome of each invocation (success, partial batch failure, function error, bisect, retries,
  record age, on-failure destination) is handled by `emulation.awslambda.stream_batch.BatchDelivery`;
- checkpoints live in `<state>/checkpoints/` (`emulation.kinesis.checkpoints`) and survive a restart of
  the runtime; a recreated stream (moto restarted) is detected and read from StartingPosition;
- new shards (resharding) are picked up by a discovery loop; a child shard is read after its parent.

`GET /2015-03-31/event-source-mappings/` on the control port lists the mappings as Lambda's
ListEventSourceMappings does (moto's endpoint forwards `aws lambda list-event-source-mappings` and
`get-event-source-mapping` there). `GET /mappings` on the control port reports every mapping with, per shard, its checkpoint, the
records buffered and in flight, MillisBehindLatest, and `caught_up_at` (the start time of the last
GetRecords that found nothing new while nothing was buffered or in flight: every record written
before that time has been handled). `MappingService.wait_caught_up(since)` waits on the same.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from emulation.kinesis.checkpoints import CheckpointStore, StreamIdentity
from emulation.kinesis.reader import KinesisReader

from .events import StreamRecord, on_failure_record
from .shard_poller import ERROR_BACKOFF_S, ShardPoller

log = logging.getLogger("localcloud.mappings")

DISCOVERY_S = 5.0


class Mapping:
    def __init__(self, service: MappingService, spec):
        ctx = service.ctx
        self.service = service
        self.spec = spec
        self.id = f"{spec.stream}--{spec.function}"
        self.region = ctx.config.region
        self.stream_arn = ctx.names.stream_arn(spec.stream)
        self.function_arn = ctx.names.function_arn(spec.function)
        self.role_arn = ctx.names.role_arn(spec.function)
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stream_arn}|{self.function_arn}"))
        self.store = CheckpointStore(Path(ctx.config.state_dir) / "checkpoints", self.id)
        self.reader = KinesisReader(ctx.config.aws_endpoint, self.region, ctx.boto("kinesis"))
        self.identity: StreamIdentity | None = None
        self.pollers: dict[str, ShardPoller] = {}
        self._lock = threading.Lock()
        self._missing_logged = False
        self.started_at = time.time()
        self._thread = threading.Thread(
            target=self._supervise, name=f"mapping-{self.id}", daemon=True
        )

    def stopping(self) -> bool:
        return self.service.stop_event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.service.stop_event.wait(seconds) if seconds > 0 else self.stopping()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in [self._thread] + [p.thread for p in list(self.pollers.values())]:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))

    def _supervise(self) -> None:
        while not self.stopping():
            self.refresh_identity()
            if self.identity is not None:
                try:
                    self._discover_shards()
                except Exception as exc:  # noqa: BLE001 - retried at the next discovery
                    log.warning("mapping %s: listing shards failed: %s", self.id, exc)
            self.wait(DISCOVERY_S if self.identity is not None else ERROR_BACKOFF_S)

    def refresh_identity(self) -> None:
        try:
            identity = self.reader.identity(self.spec.stream)
        except Exception as exc:  # noqa: BLE001 - the stream or moto is not there (yet)
            if not self._missing_logged:
                log.warning(
                    "mapping %s: stream %s unavailable (%s); retrying",
                    self.id,
                    self.spec.stream,
                    exc,
                )
                self._missing_logged = True
            return
        self._missing_logged = False
        with self._lock:
            if identity != self.identity:
                if self.identity is not None:
                    log.warning(
                        "mapping %s: stream %s changed identity (recreated)",
                        self.id,
                        self.spec.stream,
                    )
                self.identity = identity

    def _discover_shards(self) -> None:
        for shard in self.reader.shards(self.spec.stream):
            sid = shard["ShardId"]
            if sid not in self.pollers:
                poller = ShardPoller(self, sid, shard.get("ParentShardId"))
                self.pollers[sid] = poller
                poller.thread.start()

    def invoke(self, payload: bytes):
        return self.service.lambdas.invoke_bytes(self.spec.function, payload)

    def send_to_destination(
        self, records: list[StreamRecord], condition: str, invoke_count: int, last
    ) -> None:
        error = getattr(last, "error", None)
        document = on_failure_record(
            records,
            stream_arn=self.identity.arn if self.identity else self.stream_arn,
            function_arn=self.function_arn,
            condition=condition,
            invoke_count=invoke_count,
            request_id=getattr(last, "request_id", None) or str(uuid.uuid4()),
            function_error="Unhandled" if error else None,
            now=time.time(),
        )
        log.warning(
            "mapping %s: discarded %d record(s) of %s (%s)",
            self.id,
            len(records),
            records[0].shard_id,
            condition,
        )
        if self.spec.on_failure_queue:
            self.service.send_to_queue(self.spec.on_failure_queue, json.dumps(document))

    def configuration(self) -> dict[str, Any]:
        """The mapping as Lambda's GetEventSourceMapping describes it (EventSourceMappingConfiguration)."""
        spec, names = self.spec, self.service.ctx.names
        status = self.status()
        config: dict[str, Any] = {
            "UUID": self.uuid,
            "EventSourceMappingArn": f"arn:aws:lambda:{self.region}:{names.account}:event-source-mapping:{self.uuid}",
            "EventSourceArn": status["event_source_arn"],
            "FunctionArn": self.function_arn,
            "StartingPosition": spec.starting_position,
            "BatchSize": spec.batch_size,
            "MaximumBatchingWindowInSeconds": spec.maximum_batching_window_s,
            "ParallelizationFactor": spec.parallelization_factor,
            "LastModified": self.started_at,
            "LastProcessingResult": _last_result(status["shards"].values()),
            "State": "Enabled",
            "StateTransitionReason": "User action",
            "DestinationConfig": {
                "OnFailure": (
                    {"Destination": names.queue_arn(spec.on_failure_queue)}
                    if spec.on_failure_queue
                    else {}
                )
            },
            "MaximumRecordAgeInSeconds": spec.maximum_record_age_s,
            "BisectBatchOnFunctionError": spec.bisect_batch_on_function_error,
            "MaximumRetryAttempts": spec.maximum_retry_attempts,
            "TumblingWindowInSeconds": 0,
            "FunctionResponseTypes": ["ReportBatchItemFailures"]
            if spec.report_batch_item_failures
            else [],
        }
        return config

    def status(self) -> dict[str, Any]:
        shards = {sid: p.status() for sid, p in sorted(self.pollers.items())}
        caught = [s["caught_up_at"] for s in shards.values() if not s["finished"]]
        spec = self.spec
        return {
            "uuid": self.uuid,
            "function": spec.function,
            "stream": spec.stream,
            "event_source_arn": self.identity.arn if self.identity else self.stream_arn,
            "state": "Enabled",
            "batch_size": spec.batch_size,
            "maximum_batching_window_s": spec.maximum_batching_window_s,
            "starting_position": spec.starting_position,
            "records_succeeded": sum(s["records_succeeded"] for s in shards.values()),
            "records_discarded": sum(s["records_discarded"] for s in shards.values()),
            "invocations": sum(s["invocations"] for s in shards.values()),
            "function_errors": sum(s["function_errors"] for s in shards.values()),
            "caught_up_at": (min(caught) if caught and None not in caught else None)
            if shards
            else None,
            "shards": shards,
        }


def _last_result(shards) -> str:
    """One mapping-level LastProcessingResult from the shards' (a problem on any shard wins)."""
    results = [s["last_processing_result"] for s in shards]
    problems = [r for r in results if r.startswith("PROBLEM")]
    return problems[0] if problems else ("OK" if "OK" in results else "No records processed")


class MappingService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.stop_event = threading.Event()
        self.mappings = [Mapping(self, spec) for spec in ctx.resources.event_source_mappings]
        self._sqs = None
        self._queue_urls: dict[str, str] = {}
        self._probed_at, self._down = 0.0, False

    @property
    def lambdas(self):
        return self.ctx.service("lambda")

    def start(self) -> None:
        self.ctx.control.register(
            "GET", r"/mappings", lambda *_: (200, {}, {"mappings": self.status()})
        )
        # Lambda's ListEventSourceMappings shape; moto forwards the AWS API calls here
        # (emulation.moto.patches.lambda_mappings).
        self.ctx.control.register(
            "GET",
            r"/2015-03-31/event-source-mappings/?",
            lambda *_: (
                200,
                {},
                {"EventSourceMappings": [m.configuration() for m in self.mappings]},
            ),
        )
        for mapping in self.mappings:
            mapping.start()

    def stop(self) -> None:
        self.stop_event.set()
        for mapping in self.mappings:
            mapping.join(timeout=5.0)

    def status(self) -> list[dict[str, Any]]:
        return [m.status() for m in self.mappings]

    def wait_caught_up(
        self, since: float, timeout: float = 60.0, functions: set[str] | None = None
    ) -> None:
        """Block until every mapping (or those of `functions`) has handled all records written before `since`."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [
                m.id
                for m in self.mappings
                if (functions is None or m.spec.function in functions)
                and ((m.status()["caught_up_at"] or 0) < since)
            ]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"mappings not caught up after {timeout:.0f} s: {', '.join(pending)}"
                )
            time.sleep(0.05)

    def aws_down(self) -> bool:
        """The cloud's AWS endpoint does not answer (moto restarting): probed at most every 0.2 s."""
        now = time.monotonic()
        if now - self._probed_at > 0.2:
            from emulation.control.supervisor import http_status
            from emulation.moto.server import HEALTH_PATH

            self._down = (
                http_status(self.ctx.config.aws_endpoint + HEALTH_PATH, timeout=1.0) is None
            )
            self._probed_at = time.monotonic()
        return self._down

    def send_to_queue(self, queue: str, body: str) -> None:
        """Send the on-failure record; raises if the queue cannot be reached, so the records are
        not checkpointed past (the poller reads them again from the checkpoint)."""
        for attempt in range(3):
            try:
                if self._sqs is None:
                    self._sqs = self.ctx.boto("sqs")
                url = (
                    self._queue_urls.get(queue)
                    or self._sqs.get_queue_url(QueueName=queue)["QueueUrl"]
                )
                self._queue_urls[queue] = url
                self._sqs.send_message(QueueUrl=url, MessageBody=body)
                return
            except Exception as exc:  # noqa: BLE001 - logged; the records stay in the stream
                log.error(
                    "on-failure destination %s: send failed (attempt %d): %s",
                    queue,
                    attempt + 1,
                    exc,
                )
                if self.stop_event.wait(0.5 * (attempt + 1)):
                    break
        raise RuntimeError(
            f"on-failure destination {queue} unreachable: the records stay in the stream"
        )
