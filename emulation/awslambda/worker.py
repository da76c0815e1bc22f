"""One Lambda execution environment: a long-lived process that runs one function's handler.

`python -m emulation.awslambda.worker REQUEST_FD RESPONSE_FD` is started by
`emulation.awslambda.service` with the function's environment (`_HANDLER`, `AWS_LAMBDA_*`, the
function's own variables). Like the AWS Python runtime it imports the handler module once (the
INIT phase, whose module-level state then lives as long as the process) and calls
`handler(event, context)` for each invocation it is sent.

The protocol channel is a pair of private pipes (length-prefixed frames of
`multiprocessing.connection`), never stdout/stderr: those belong to the handler and go to the
function's log file, with the START / END / REPORT lines CloudWatch shows.

Frames: worker -> parent once `{"ready": true, "init_ms"}` or `{"init_error": {...}}`; then per
invocation parent -> worker `header` + `payload` and worker -> parent `header` + `payload` bytes.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import decimal
import importlib
import json
import math
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .context import LambdaContext, install_request_id_logging, set_logging_request_id


class InjectedFault(Exception):
    """Raised instead of running the handler when a fault switch says this invocation fails."""


class InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None):
        super().__init__(message)
        self.payload = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """Resolve `package.module.function` the way the AWS Python runtime does."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from None
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    except Exception as exc:  # any import-time failure is an init error on AWS too
        raise InitError(type(exc).__name__, str(exc), _stack(exc.__traceback__)) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


def _stack(tb) -> list[str]:
    return traceback.format_list(traceback.extract_tb(tb))


def _decimal_default(obj: Any) -> Any:
    # awslambdaric serializes Decimal (what DynamoDB returns) instead of failing.
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _error(exc: BaseException, request_id: str, skip_frames: int = 1) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _log_error(error: dict[str, Any]) -> None:
    # The AWS runtime logs an unhandled error as one entry: type, message, then the stack.
    sys.stdout.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
    if error.get("stackTrace"):
        sys.stdout.write("Traceback (most recent call last):\n" + "".join(error["stackTrace"]))


class Worker:
    def __init__(self, inbox: Connection, outbox: Connection):
        self.inbox = inbox
        self.outbox = outbox
        self.memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.handler: Callable[[Any, Any], Any] | None = None
        self.init_ms: float | None = None

    def init(self) -> bool:
        started = time.perf_counter()
        sys.stdout.write(
            f"INIT_START Runtime Version: python:{sys.version_info[0]}.{sys.version_info[1]}"
            " (localcloud worker)\n"
        )
        try:
            self.handler = load_handler(os.environ["_HANDLER"])
        except InitError as exc:
            _log_error(exc.payload)
            self._send({"init_error": exc.payload})
            return False
        self.init_ms = (time.perf_counter() - started) * 1000
        self._send({"ready": True, "init_ms": self.init_ms})
        return True

    def serve(self) -> None:
        while True:
            try:
                header = json.loads(self.inbox.recv_bytes())
                payload = self.inbox.recv_bytes()
            except EOFError:
                return  # the runtime closed the channel: shut down like a reclaimed environment
            reply, body = self.invoke(header, payload)
            self._send(reply, body)

    def invoke(self, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        request_id = header["request_id"]
        out = sys.stdout
        out.write(f"START RequestId: {request_id} Version: $LATEST\n")
        set_logging_request_id(request_id)
        started = time.perf_counter()
        if header.get("crash"):
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # a fault switch: die mid-invocation, no reply
        if header.get("latency_ms"):
            time.sleep(header["latency_ms"] / 1000)
        error = None
        body = b""
        try:
            if header.get("inject_error"):
                raise InjectedFault(header["inject_error"])
            event = json.loads(payload) if payload else {}
            context = LambdaContext(
                request_id,
                header["invoked_function_arn"],
                header["deadline_ms"],
                header.get("client_context"),
            )
            result = self.handler(event, context)  # type: ignore[misc]
            try:
                body = json.dumps(result, default=_decimal_default).encode()
            except (TypeError, ValueError) as exc:
                error = {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
        except Exception as exc:  # noqa: BLE001 - the handler's exception is the invocation's result
            error = _error(exc, request_id)
        if error is not None:
            _log_error(error)
            body = json.dumps(error).encode()
        duration = (time.perf_counter() - started) * 1000
        sys.stderr.flush()
        out.write(f"END RequestId: {request_id}\n")
        max_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration)} ms\tMemory Size: {self.memory} MB\t"
            f"Max Memory Used: {max_mb} MB"
        )
        if self.init_ms is not None:
            report += f"\tInit Duration: {self.init_ms:.2f} ms"
            self.init_ms = None
        out.write(report + "\n")
        out.flush()
        return {"ok": error is None, "error": error, "duration_ms": duration}, body

    def _send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.outbox.send_bytes(json.dumps(header).encode())
        self.outbox.send_bytes(body)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        sys.stderr.write(
            "usage: python -m emulation.awslambda.worker REQUEST_FD RESPONSE_FD "
            "(started by emulation.awslambda.service, not by hand)\n"
        )
        return 2
    request_fd, response_fd = int(argv[0]), int(argv[1])
    for fd in (request_fd, response_fd):
        os.set_inheritable(fd, False)  # subprocesses the handler starts must not hold the channel
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    install_request_id_logging()
    worker = Worker(Connection(request_fd, writable=False), Connection(response_fd, readable=False))
    if not worker.init():
        return 1
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
