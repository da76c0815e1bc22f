"""One shard of one Kinesis event-source mapping: read its records in order, form batches and hand
them to `emulation.awslambda.stream_batch.BatchDelivery`, checkpointing as they complete.

Batches close at BatchSize records, at the 6 MB invocation payload, or when
MaximumBatchingWindowInSeconds has passed since the first record arrived (window 0: as soon as
records are read). The next GetRecords (Limit 10,000) runs while the current batch is delivered.
Where a shard starts: its checkpoint (`AFTER_SEQUENCE_NUMBER`), else the mapping's
StartingPosition (LATEST remembers when it started, so a restart does not skip records written
while the runtime was down); a checkpoint of an older stream of the same name is ignored.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from emulation.kinesis.reader import MAX_GET_RECORDS, ShardReader

from .events import PAYLOAD_LIMIT, EventRenderer, StreamRecord
from .stream_batch import BatchDelivery

if TYPE_CHECKING:
    from .mappings import Mapping

log = logging.getLogger("localcloud.mappings")

IDLE_POLL_S = 0.25
ERROR_BACKOFF_S = 1.0


class StreamReset(Exception):
    """The stream was recreated: reopen every shard from the checkpoint rules."""


class ShardPoller:
    def __init__(self, mapping: Mapping, shard_id: str, parent_id: str | None):
        self.mapping = mapping
        self.shard_id = shard_id
        self.parent_id = parent_id
        self.shard = ShardReader(
            mapping.reader,
            mapping.store,
            mapping.spec.stream,
            shard_id,
            mapping.spec.starting_position,
            consumer=f"mapping {mapping.id}",
        )
        self.buffered = 0
        self.in_flight = 0
        self.millis_behind_latest = 0
        self.caught_up_at: float | None = None
        self.finished = False
        self.last_error: str | None = None
        spec = mapping.spec
        self.delivery = BatchDelivery(
            spec,
            mapping.invoke,
            self._checkpoint,
            self._discard,
            mapping.wait,
            outage=mapping.service.aws_down,
        )
        self.thread = threading.Thread(
            target=self.run, name=f"poll-{mapping.id}-{shard_id}", daemon=True
        )

    def run(self) -> None:
        m = self.mapping
        while not m.stopping():
            parent = m.pollers.get(self.parent_id) if self.parent_id else None
            if parent is not None and not parent.finished:
                m.wait(IDLE_POLL_S)  # AWS reads a child shard only after its parent is done
                continue
            try:
                self._consume()
                return
            except StreamReset:
                continue
            except Exception as exc:  # noqa: BLE001 - moto down, stream gone, ...: retry, never die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("mapping %s shard %s: %s", m.id, self.shard_id, self.last_error)
                if m.wait(ERROR_BACKOFF_S):
                    return
                m.refresh_identity()

    @property
    def checkpoint(self) -> str | None:
        return self.shard.checkpoint

    def _open(self) -> str:
        identity = self.mapping.identity
        if identity is None:
            raise RuntimeError(f"stream {self.mapping.spec.stream} is not available")
        return self.shard.open(identity)

    def _consume(self) -> None:
        m, spec = self.mapping, self.mapping.spec
        renderer = EventRenderer(
            self.shard_id, m.identity.arn if m.identity else m.stream_arn, m.region, m.role_arn
        )
        iterator: str | None = self._open()
        buffer: deque[StreamRecord] = deque()
        buffered_bytes = 0
        gather_started: float | None = None
        # The next GetRecords runs while the current batch is being delivered (AWS also reads ahead).
        fetcher = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"read-{m.id}-{self.shard_id}"
        )
        pending: tuple[Future, float] | None = None
        try:
            while not m.stopping():
                if m.identity != self.shard.identity:
                    raise StreamReset()
                full = len(buffer) >= spec.batch_size or buffered_bytes >= PAYLOAD_LIMIT
                # Read ahead up to one page beyond a full batch, so reading overlaps invoking.
                if (
                    pending is None
                    and iterator is not None
                    and buffered_bytes < 2 * PAYLOAD_LIMIT
                    and len(buffer) < spec.batch_size + MAX_GET_RECORDS
                ):
                    pending = (fetcher.submit(self._read, renderer), time.time())
                waited = time.monotonic() - gather_started if gather_started is not None else 0.0
                ready = bool(buffer) and (
                    full or iterator is None or waited >= spec.maximum_batching_window_s
                )
                if pending is not None and (pending[0].done() or not ready):
                    (records, iterator, self.millis_behind_latest), polled_at = (
                        pending[0].result(),
                        pending[1],
                    )
                    pending = None
                    self.last_error = None
                    buffer.extend(records)
                    buffered_bytes += sum(r.size for r in records)
                    self.buffered = len(buffer)
                    if buffer and gather_started is None:
                        gather_started = time.monotonic()
                    if not buffer:
                        self.caught_up_at = (
                            polled_at  # nothing buffered, in flight, or newly written
                        )
                        if iterator is None:
                            self.finished = True  # a closed shard, read to its end
                            return
                        m.wait(IDLE_POLL_S)
                    elif not records and iterator is not None:
                        m.wait(min(IDLE_POLL_S, max(0.0, spec.maximum_batching_window_s - waited)))
                    continue
                if not ready:
                    if iterator is None and not buffer:
                        self.finished = True
                        return
                    m.wait(0.01)
                    continue
                batch = _take_batch(buffer, spec.batch_size)
                buffered_bytes -= sum(r.size for r in batch)
                gather_started = time.monotonic() if buffer else None
                self.buffered, self.in_flight = len(buffer), len(batch)
                if not self.delivery.deliver(batch):
                    return  # stopping; the batch is not checkpointed and will be read again
                self.in_flight = 0
        finally:
            fetcher.shutdown(wait=False, cancel_futures=True)

    def _read(self, renderer: EventRenderer):
        page = self.shard.read(MAX_GET_RECORDS)
        records = [
            renderer.render(
                r["PartitionKey"],
                r["SequenceNumber"],
                r["Data"],
                float(r["ApproximateArrivalTimestamp"]),
            )
            for r in page.records
        ]
        return records, page.next_iterator, page.millis_behind_latest

    def _checkpoint(self, record: StreamRecord) -> None:
        self.shard.commit(record.sequence_number)

    def _discard(
        self, records: list[StreamRecord], condition: str, invoke_count: int, last
    ) -> None:
        self.mapping.send_to_destination(records, condition, invoke_count, last)

    def status(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "buffered": self.buffered,
            "in_flight": self.in_flight,
            "millis_behind_latest": self.millis_behind_latest,
            "caught_up_at": self.caught_up_at,
            "finished": self.finished,
            "last_error": self.last_error,
            "invocations": self.delivery.invocations,
            "function_errors": self.delivery.function_errors,
            "records_succeeded": self.delivery.records_succeeded,
            "records_discarded": self.delivery.records_discarded,
            "last_processing_result": self.delivery.last_result,
        }


def _take_batch(buffer: deque[StreamRecord], batch_size: int) -> list[StreamRecord]:
    batch = [buffer.popleft()]
    size = len(b'{"Records":[]}') + batch[0].size - 1
    while buffer and len(batch) < batch_size and size + buffer[0].size <= PAYLOAD_LIMIT:
        record = buffer.popleft()
        batch.append(record)
        size += record.size
    return batch
