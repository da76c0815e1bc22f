"""Lambda execution environments: the worker processes of one function and their pool.

A `WorkerProcess` is one execution environment (`python -m emulation.awslambda.worker`) with its
private protocol pipes; its stdout/stderr are one pipe (`emulation.awslambda.logs.WorkerLog`) whose
lines go to the function's log file and to CloudWatch Logs. A `FunctionPool` creates
environments on demand up to the function's concurrency limit, hands an idle (warm) one to each
invocation, and forgets the ones that timed out or crashed, so the next invocation cold-starts.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from emulation.config import REPO_ROOT
from emulation.metrics import Histogram
from emulation.registry import LAMBDA_WORKER

from .logs import LogShipper, WorkerLog

INIT_TIMEOUT_S = 10.0  # AWS limits the INIT phase of on-demand functions to 10 seconds


REPOSITORY_WORKER = (sys.executable, "-m", LAMBDA_WORKER)
"""The worker of a described function: the repository's handlers (template mode starts another,
see `emulation.cloudformation.sandbox`)."""


class WorkerProcess:
    """One execution environment: a worker process, its private protocol pipes and its output."""

    def __init__(
        self,
        env: dict[str, str],
        output: WorkerLog,
        command: tuple[str, ...] = REPOSITORY_WORKER,
        cwd: str = str(REPO_ROOT),
    ):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.output = output
        try:
            self.proc = subprocess.Popen(
                [*command, str(req_r), str(resp_w)],
                pass_fds=(req_r, resp_w),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output.write_fd,
                stderr=output.write_fd,
                start_new_session=True,  # a Ctrl-C at the terminal reaches the runtime, not workers
            )
        except BaseException:
            output.close()
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        output.child_started()
        self.to_worker = Connection(req_w, readable=False)
        self.from_worker = Connection(resp_r, writable=False)
        self.init_ms: float | None = None

    def _wait_reply(self, timeout: float) -> bool:
        """Wait for the worker's next frame, reading its output meanwhile (a full pipe would
        stall it); afterwards everything it wrote before replying has been read."""
        reply_fd, output_fd = self.from_worker.fileno(), self.output.read_fd
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.output.pump()
                return False
            ready, _, _ = select.select([reply_fd, output_fd], [], [], remaining)
            self.output.pump()
            if reply_fd in ready:
                return True

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """None when ready; otherwise an AWS-shaped init error."""
        try:
            if not self._wait_reply(timeout):
                self.kill()
                return {
                    "errorType": "Runtime.InitTimeout",
                    "errorMessage": f"INIT phase did not finish within {timeout:.0f} seconds",
                }
            header = json.loads(self.from_worker.recv_bytes())
            self.from_worker.recv_bytes()
        except (EOFError, OSError):
            return self._exit_error("", "during init")
        if "init_error" in header:
            self.kill()
            return header["init_error"]
        self.init_ms = header.get("init_ms")
        return None

    def call(self, header: dict[str, Any], payload: bytes, timeout: float):
        """('ok', reply, body) | ('timeout', None, b'') | ('exit', error, b'')"""
        try:
            self.to_worker.send_bytes(json.dumps(header).encode())
            self.to_worker.send_bytes(payload)
            if not self._wait_reply(timeout):
                self.kill()
                return "timeout", None, b""
            reply = json.loads(self.from_worker.recv_bytes())
            body = self.from_worker.recv_bytes()
        except (EOFError, OSError):
            return "exit", self._exit_error(header["request_id"], ""), b""
        return "ok", reply, body

    def _exit_error(self, request_id: str, when: str) -> dict[str, Any]:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        status = (
            f"signal: {_signal_name(-code)}"
            if code is not None and code < 0
            else f"exit status {code}"
        )
        prefix = f"RequestId: {request_id} " if request_id else ""
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"{prefix}Error: Runtime exited with error: {status}{(' ' + when) if when else ''}",
        }

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for conn in (self.to_worker, self.from_worker):
            try:
                conn.close()
            except OSError:
                pass
        self.output.close()  # its last lines, then the pipe


def _signal_name(number: int) -> str:
    import signal

    names: dict[int, str] = {
        signal.SIGKILL: "killed",
        signal.SIGTERM: "terminated",
        signal.SIGSEGV: "segmentation fault",
        signal.SIGABRT: "aborted",
    }
    return names.get(number, f"signal {number}")


class FunctionPool:
    """The execution environments of one function, created on demand up to `limit`."""

    def __init__(
        self,
        name: str,
        spec,
        env: dict[str, str],
        log_path: Path,
        limit: int,
        arn: str,
        shipper: LogShipper | None = None,
        command: tuple[str, ...] = REPOSITORY_WORKER,
        cwd: str = str(REPO_ROOT),
    ):
        self.name = name
        self.shipper = shipper
        self.spec = spec
        self.env = env
        self.command, self.cwd = command, cwd
        self.limit = limit
        self.arn = arn
        self.log_path = log_path
        self.log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._idle: list[WorkerProcess] = []
        self._all: set[WorkerProcess] = set()
        self._cond = threading.Condition()
        self._closed = False
        self.cold_starts = 0
        self.invocations = 0
        self.errors = 0
        self.duration = Histogram()  # what CloudWatch's Duration metric shows, per invocation
        self._counted = threading.Lock()

    def acquire(self) -> tuple[WorkerProcess | None, bool, dict | None]:
        """(worker, cold_start, init_error)"""
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"function {self.name}: the Lambda service is stopping")
                if self._idle:
                    return self._idle.pop(), False, None
                if len(self._all) < self.limit:
                    placeholder = object()
                    self._all.add(placeholder)  # type: ignore[arg-type]
                    break
                self._cond.wait()
        try:
            stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
            output = WorkerLog(self.name, stream, self.log_fd, self.shipper)
            worker = WorkerProcess(
                {**self.env, "AWS_LAMBDA_LOG_STREAM_NAME": stream}, output, self.command, self.cwd
            )
        except BaseException:
            self._forget(placeholder)
            raise
        with self._cond:
            self._all.discard(placeholder)
            self._all.add(worker)
            self.cold_starts += 1
        error = worker.wait_ready(max(INIT_TIMEOUT_S, float(self.spec.timeout_s)))
        if error is not None:
            self.release(worker, reuse=False)
            return None, True, error
        return worker, True, None

    def observe(self, result) -> None:
        """Count one invocation (`result` None: it raised) for `GET /functions` and the console."""
        failed = result is None or result.error is not None
        with self._counted:
            self.invocations += 1
            self.errors += failed
        if result is not None:
            self.duration.add(result.duration_ms)

    def busy(self) -> int:
        """Environments running an invocation (or starting for one) now."""
        with self._cond:
            return len(self._all) - len(self._idle)

    def release(self, worker: WorkerProcess, reuse: bool) -> None:
        if not reuse or self._closed:
            worker.kill()
        with self._cond:
            if reuse and not self._closed and worker.alive():
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                if worker in self._idle:
                    self._idle.remove(worker)
            self._cond.notify()

    def _forget(self, placeholder) -> None:
        with self._cond:
            self._all.discard(placeholder)
            self._cond.notify()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(w.pid for w in self._all if isinstance(w, WorkerProcess))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = [w for w in self._all if isinstance(w, WorkerProcess)]
            self._cond.notify_all()
        for w in workers:
            w.kill()
        os.close(self.log_fd)
