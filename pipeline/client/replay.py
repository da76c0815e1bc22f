"""Replay a source file through POST /events: batching, requests in flight, pacing, progress.

Memory stays bounded: events are read lazily and at most `2 * concurrency` batches exist at once.
Pacing (optional, one of):
  rate     events per second on average: batch k is sent no earlier than start + sent_before_k / rate
  speedup  the shop's own timeline compressed X times: a batch is sent no earlier than
           start + (its first invoice_date - the first event's invoice_date) / X
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import rich.progress
from rich.console import Console

from pipeline.events import SaleEvent
from pipeline.source import iter_batches

from .api import ApiError, BatchOutcome, EventsApi


@dataclass
class Summary:
    sent: int = 0
    """Events handed to the API (each counted once, however often retried)."""
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    """Events still not written after every retry."""
    requests: int = 0
    retried: int = 0
    """Requests that were retries."""
    elapsed_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since the start, events accepted so far), one point per batch answered."""
    started_at: float = field(default_factory=time.perf_counter)

    def add(self, batch: list[SaleEvent], outcome: BatchOutcome) -> None:
        self.sent += len(batch)
        self.accepted += outcome.accepted
        self.rejected += len(outcome.rejected)
        self.failed += len(outcome.failed)
        self.requests += len(outcome.latencies)
        self.retried += outcome.retries
        self.latencies.extend(outcome.latencies)
        for item in outcome.rejected[:20]:
            self.rejections.append(item)
        if outcome.failed:
            self.failures.append(
                f"{len(outcome.failed)} events, e.g. {outcome.failed[0]}: {outcome.failed_reason}"
            )
        self.timeline.append((round(time.perf_counter() - self.started_at, 3), self.accepted))

    @property
    def events_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency_ms(self, quantile: float) -> float:
        return percentile(self.latencies, quantile) * 1000

    @property
    def ok(self) -> bool:
        return self.accepted == self.sent

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failed": self.failed,
            "requests": self.requests,
            "retried": self.retried,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events_per_s, 1),
            "latency_ms_p50": round(self.latency_ms(0.50), 1),
            "latency_ms_p99": round(self.latency_ms(0.99), 1),
        }

    def render(self) -> str:
        lines = [
            f"sent {self.sent}  accepted {self.accepted}  rejected {self.rejected}  failed {self.failed}",
            f"requests {self.requests} (retried {self.retried})  {self.elapsed_s:.1f} s  "
            f"{self.events_per_s:,.0f} events/s  latency p50 {self.latency_ms(0.5):.0f} ms  "
            f"p99 {self.latency_ms(0.99):.0f} ms",
        ]
        for item in self.rejections[:10]:
            lines.append(
                f"  rejected {item.get('event_id')}: {'; '.join(item.get('problems', []))}"
            )
        for failure in self.failures[:10]:
            lines.append(f"  failed {failure}")
        return "\n".join(lines)


def percentile(values: list[float], quantile: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(quantile * len(ordered))))
    return ordered[rank - 1]


class Pacer:
    """Blocks until a batch may be sent, for --rate or --speedup (neither: never blocks)."""

    def __init__(
        self,
        rate: float | None = None,
        speedup: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate is not None and speedup is not None:
            raise ValueError("give --rate or --speedup, not both")
        if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
            raise ValueError("--rate and --speedup must be positive")
        self.rate, self.speedup = rate, speedup
        self._clock, self._sleep = clock, sleep
        self._start: float | None = None
        self._first_date: datetime | None = None
        self._sent = 0

    def due(self, batch: list[SaleEvent]) -> float:
        """Seconds after the start at which `batch` may go."""
        if self._first_date is None:
            self._first_date = batch[0].invoice_date
        if self.rate is not None:
            return self._sent / self.rate
        if self.speedup is not None:
            return (batch[0].invoice_date - self._first_date).total_seconds() / self.speedup
        return 0.0

    def wait(self, batch: list[SaleEvent]) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        delay = self._start + self.due(batch) - now
        self._sent += len(batch)
        if delay > 0:
            self._sleep(delay)


class Progress:
    """On a terminal, rich's progress bar; elsewhere (CI logs, files) a plain line every `every_s`
    seconds, since a bar redrawn in place is unreadable there. Both on stderr."""

    def __init__(self, total: int | None, stream: IO[str] | None = None, every_s: float = 10.0):
        self.total, self.every_s = total, every_s
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._started = self._last = time.monotonic()
        self._bar: rich.progress.Progress | None = None
        if self.tty:
            self._bar = rich.progress.Progress(
                rich.progress.TextColumn("replay"),
                rich.progress.BarColumn(),
                rich.progress.MofNCompleteColumn(),
                rich.progress.TextColumn("events  {task.fields[status]}"),
                rich.progress.TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self._task = self._bar.add_task("replay", total=total, status="")
            self._bar.start()

    def update(self, summary: Summary, force: bool = False) -> None:
        now = time.monotonic()
        status = (
            f"accepted {summary.accepted}  retried {summary.retried}  "
            f"{summary.accepted / max(now - self._started, 1e-9):,.0f} ev/s"
        )
        if self._bar is not None:
            self._bar.update(self._task, completed=summary.sent, status=status)
            if force:
                self._bar.stop()
            return
        if force or now - self._last >= self.every_s:
            self._last = now
            done = f"{summary.sent}/{self.total}" if self.total else f"{summary.sent}"
            self.stream.write(f"{done} events  {status}\n")
            self.stream.flush()


def replay(
    api: EventsApi,
    events: Iterable[SaleEvent],
    *,
    batch_size: int = 500,
    concurrency: int = 4,
    pacer: Pacer | None = None,
    progress: Progress | None = None,
    on_batch: Callable[[list[SaleEvent]], None] | None = None,
) -> Summary:
    """Send every event; return the summary. Raises ApiError (403, 404, unreachable) at once."""
    if not 1 <= batch_size <= 500:
        raise ValueError("--batch-size must be 1..500 (the API's batch limit)")
    if concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    pacer = pacer or Pacer()
    started = time.perf_counter()
    summary = Summary(started_at=started)
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(concurrency * 2)
    fatal: list[BaseException] = []

    def done(batch: list[SaleEvent], future: Future) -> None:
        try:
            outcome = future.result()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the producer below
            fatal.append(exc)
        else:
            with lock:
                summary.add(batch, outcome)
                if progress:
                    progress.update(summary)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replay") as pool:
        for batch in _batches(events, batch_size):
            if fatal:
                break
            if on_batch:
                on_batch(batch)
            pacer.wait(batch)
            slots.acquire()
            future = pool.submit(api.send, batch)
            future.add_done_callback(functools.partial(done, batch))
    summary.elapsed_s = time.perf_counter() - started
    if progress:
        progress.update(summary, force=True)
    if fatal:
        error = fatal[0]
        raise error if isinstance(error, ApiError) else ApiError(f"replay failed: {error!r}")
    return summary


def _batches(events: Iterable[SaleEvent], size: int) -> Iterator[list[SaleEvent]]:
    return iter_batches(iter(events), size)
