"""Lambda function logs, as AWS delivers them: to CloudWatch Logs, and here to the log file too.

Emulates: every line an execution environment writes (the runtime's START / END / REPORT lines, the
handler's prints and logging, tracebacks) becomes a log event in log group `/aws/lambda/<function>`,
log stream `YYYY/MM/DD/[$LATEST]<32 hex>` (one stream per execution environment, the name its
`AWS_LAMBDA_LOG_STREAM_NAME` holds), in moto's CloudWatch Logs, so `aws logs tail`,
`filter-log-events` and `get-log-events` show them. Each line is also appended to
`<state>/logs/lambda/<function>.log` as before (`make logs`, `X-Amz-Log-Type: Tail`).

How: a worker's stdout and stderr are one pipe (`WorkerLog`), read by the thread that waits for
that worker's invocation (`emulation.awslambda.workers.WorkerProcess.call`), so the lines of an
invocation are in the file and queued for CloudWatch by the time its answer is returned. One
`LogShipper` thread per runtime sends the queued lines with PutLogEvents once a second (or sooner
when `FLUSH_EVENTS` lines wait), within PutLogEvents' limits (10,000 events, 1 MB); the log group
and each stream are created on first use. `LOCALCLOUD_LAMBDA_LOGS=file` keeps the files only
(the baseline of `python -m bench lambda_logs`).

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("localcloud.lambda")

FLUSH_S = 1.0
FLUSH_EVENTS = 5000
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes PutLogEvents counts per event besides its message
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_QUEUED = 200_000
_READ = 1 << 16


def enabled() -> bool:
    return os.environ.get("LOCALCLOUD_LAMBDA_LOGS", "cloudwatch").strip().lower() != "file"


class WorkerLog:
    """One execution environment's output pipe: lines to the function's file and to the shipper."""

    def __init__(self, function: str, stream: str, file_fd: int, shipper: LogShipper | None):
        self.function = function
        self.stream = stream
        self._file_fd = file_fd
        self._shipper = shipper
        self.read_fd, self.write_fd = os.pipe()
        flags = fcntl.fcntl(self.read_fd, fcntl.F_GETFL)
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._partial = b""
        self._lock = threading.Lock()

    def child_started(self) -> None:
        """The worker holds the write end now: close ours so EOF means the worker is gone."""
        os.close(self.write_fd)
        self.write_fd = -1

    def pump(self, final: bool = False) -> None:
        """Read whatever the worker wrote so far (never blocks); `final`: flush a last partial line."""
        with self._lock:
            chunks = []
            while True:
                try:
                    data = os.read(self.read_fd, _READ)
                except BlockingIOError:
                    break
                except OSError:  # closed under us: the environment is gone
                    break
                if not data:
                    final = True
                    break
                chunks.append(data)
            text = self._partial + b"".join(chunks)
            cut = text.rfind(b"\n") + 1
            if final:
                cut = len(text)
            complete, self._partial = text[:cut], text[cut:]
            if complete:
                self._deliver(complete)

    def write(self, text: str) -> None:
        """Lines the runtime itself writes for this environment (a timeout's END / REPORT)."""
        with self._lock:
            self._deliver(text.encode())

    def _deliver(self, data: bytes) -> None:
        os.write(self._file_fd, data)
        if self._shipper is not None:
            now = int(time.time() * 1000)
            lines = data.splitlines(keepends=True)
            self._shipper.add(
                self.function,
                self.stream,
                [(now, line[:MAX_EVENT_BYTES].decode("utf-8", "replace")) for line in lines],
            )

    def close(self) -> None:
        self.pump(final=True)
        with self._lock:
            for fd in (self.read_fd, self.write_fd):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self.read_fd = self.write_fd = -1


class LogShipper:
    """Batches log lines per stream into PutLogEvents calls on a background thread."""

    def __init__(self, client_factory: Callable[[], Any], flush_s: float = FLUSH_S):
        self._client_factory = client_factory
        self._client = None
        self._flush_s = flush_s
        self._queues: dict[tuple[str, str], deque] = {}
        self._queued = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._groups: set[str] = set()
        self._streams: set[tuple[str, str]] = set()
        self.stats = {"events_sent": 0, "calls": 0, "events_dropped": 0, "failures": 0}
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="lambda-log-shipper", daemon=True)
        self._thread.start()

    def add(self, function: str, stream: str, events: list[tuple[int, str]]) -> None:
        with self._lock:
            queue = self._queues.setdefault((function, stream), deque())
            queue.extend(events)
            self._queued += len(events)
            while self._queued > MAX_QUEUED:  # moto has been away long: drop the oldest, counted
                longest = max(self._queues.values(), key=len)
                longest.popleft()
                self._queued -= 1
                self.stats["events_dropped"] += 1
            if self._queued >= FLUSH_EVENTS:
                self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending = [(key, list(q)) for key, q in self._queues.items() if q]
            for _, q in self._queues.items():
                q.clear()
            self._queued = 0
        for (function, stream), events in pending:
            unsent = self._send(function, stream, events)
            if unsent:
                with self._lock:  # back in front, in order, for the next round
                    queue = self._queues.setdefault((function, stream), deque())
                    queue.extendleft(reversed(unsent))
                    self._queued += len(unsent)

    def _send(
        self, function: str, stream: str, events: list[tuple[int, str]]
    ) -> list[tuple[int, str]]:
        """Send `events`; return those not sent (all of them, or the rest after a failed batch)."""
        group = f"/aws/lambda/{function}"
        try:
            client = self._client or self._client_factory()
            self._client = client
            self._ensure(client, group, stream)
            for batch in _batches(events):
                client.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": t, "message": m} for t, m in batch],
                )
                self.stats["calls"] += 1
                self.stats["events_sent"] += len(batch)
                events = events[len(batch) :]
        except Exception as exc:  # noqa: BLE001 - moto away or refusing: keep the lines, retry later
            self.stats["failures"] += 1
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":  # moto restarted empty: create them again
                self._groups.discard(group)
                self._streams.discard((group, stream))
            elif code and code not in ("ThrottlingException", "ServiceUnavailableException"):
                log.warning(
                    "CloudWatch Logs refused %d line(s) of %s: %s", len(events), stream, exc
                )
                self.stats["events_dropped"] += len(events)  # a refusal would repeat forever
                return []
            if not self._failing:
                log.warning(
                    "cannot deliver function logs to CloudWatch Logs (%s); the log files have "
                    "them, retrying every %.0f s",
                    exc,
                    self._flush_s,
                )
            self._failing = True
            return events
        if self._failing:
            log.info("function logs reach CloudWatch Logs again")
        self._failing = False
        return []

    def _ensure(self, client, group: str, stream: str) -> None:
        if group not in self._groups:
            _create(client.create_log_group, logGroupName=group)
            self._groups.add(group)
        if (group, stream) not in self._streams:
            _create(client.create_log_stream, logGroupName=group, logStreamName=stream)
            self._streams.add((group, stream))

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self.flush()


def _create(call, **kwargs) -> None:
    try:
        call(**kwargs)
    except Exception as exc:  # botocore's error classes live on the client
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceAlreadyExistsException":
            raise


def _batches(events: list[tuple[int, str]]):
    """Consecutive slices within PutLogEvents' limits (count and bytes)."""
    start, size = 0, 0
    for i, (_, message) in enumerate(events):
        cost = len(message.encode("utf-8")) + EVENT_OVERHEAD
        if i > start and (i - start >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES):
            yield events[start:i]
            start, size = i, 0
        size += cost
    if start < len(events):
        yield events[start:]
