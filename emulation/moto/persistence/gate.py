"""Which requests change moto's state, and the WSGI wrapper that persists them before answering.

Every service's app (moto builds one Flask app per service) is wrapped by `PersistedApp`:
- a read (GET/HEAD, or an action named Get*, List*, Describe*, Query, Scan, ...) passes through;
- a data-plane write (Kinesis PutRecord(s), DynamoDB item writes, S3 object requests, CloudWatch
  Logs PutLogEvents) passes through: the service's own module (`kinesis.py`, `dynamodb.py`,
  `s3.py`) logs its effect inside the request; log events are not kept;
- any other request that may change the service is a control-plane change: it runs under the
  service's snapshot lock and, when it succeeded and its action is not a read, the service's
  snapshot is rewritten (`backends.py`) before the response goes back to the client.
Writes in flight are counted, so a clean shutdown waits for them before it syncs the files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

READ, DATA, CONTROL = "read", "data", "control"
READ_PREFIXES = (
    "Get", "List", "Describe", "Head", "Query", "Scan", "Search", "Lookup", "Select", "BatchGet",
    "Check", "Validate", "Estimate", "Preview", "Simulate", "Test", "Filter", "Receive", "Invoke",
    "Decrypt", "GenerateDataKey",
)  # fmt: skip
"""Actions that change nothing worth keeping (Receive: SQS visibility timeouts are not kept)."""
DATA_ACTIONS = {
    "kinesis": frozenset({"PutRecord", "PutRecords"}),
    "dynamodb": frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                           "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement",
                           "ExecuteTransaction"}),
    "logs": frozenset({"PutLogEvents"}),
}  # fmt: skip
_action = threading.local()


def classify(service: str, environ: dict[str, Any]) -> str:
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD", "OPTIONS"):
        return READ
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocol: the action is in the header
        action = target.rsplit(".", 1)[-1]
        if action in DATA_ACTIONS.get(service, ()):
            return DATA
        return READ if action.startswith(READ_PREFIXES) else CONTROL
    if service == "s3" and _object_request(environ):
        return DATA
    if service == "lambda" and environ.get("PATH_INFO", "").rstrip("/").endswith("/invocations"):
        return READ  # Invoke: runs code in the runtime, changes nothing in moto
    return CONTROL  # REST or query protocol: the action is known after the call (`ActionProbe`)


def _object_request(environ: dict[str, Any]) -> bool:
    """A path-style request naming a key (`/bucket/key`): its effect is logged by `s3.py`. A
    virtual-host-style one (bucket in the host name) counts as a control change: a snapshot of
    the buckets (their objects stripped) is cheap and always correct."""
    host = environ.get("HTTP_HOST", "").split(":")[0]
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "[::1]", "::1") and not host.startswith(
        ("s3.", "s3-")
    ):
        return False
    parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
    return len(parts) == 2 and bool(parts[1])


class ActionProbe:
    """Records the action moto resolved for a control-plane request (REST and query protocols
    name it in the path or the body), so a read sent as POST does not rewrite a snapshot."""

    _original: Callable | None = None

    @classmethod
    def install(cls) -> None:
        from moto.core.responses import BaseResponse

        if cls._original is not None:
            return
        cls._original = original = BaseResponse.call_action

        def call_action(self):
            if getattr(_action, "wanted", False):
                try:
                    _action.name = self._get_action()
                except Exception:  # noqa: BLE001 - unknown: treated as a change
                    _action.name = None
            return original(self)

        BaseResponse.call_action = call_action

    @staticmethod
    def start() -> None:
        _action.wanted, _action.name = True, None

    @staticmethod
    def finish() -> str | None:
        _action.wanted = False
        return getattr(_action, "name", None)


class InFlight:
    """Counts write requests being served; `drain` waits until none is."""

    def __init__(self):
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self):
        with self._idle:
            self._count += 1

    def __exit__(self, *exc):
        with self._idle:
            self._count -= 1
            if not self._count:
                self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


class PersistedApp:
    """One service's WSGI app, with its control-plane changes snapshotted before the answer."""

    def __init__(self, service: str, app, persistence):
        self.service, self.app, self.persistence = service, app, persistence

    def __getattr__(self, name: str):  # moto's dispatcher reads attributes of the Flask app
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        kind = classify(self.service, environ)
        if kind == READ:
            return self.app(environ, start_response)
        persistence = self.persistence
        if kind == DATA:
            with persistence.in_flight:
                return self.app(environ, start_response)
        status: list[int] = []

        def capture(code: str, headers, exc_info=None):
            status.append(int(code.split(" ", 1)[0]))
            return (
                start_response(code, headers, exc_info)
                if exc_info
                else start_response(code, headers)
            )

        with persistence.in_flight, persistence.snapshots.lock(self.service):
            ActionProbe.start()
            try:
                result = self.app(environ, capture)
            finally:
                action = ActionProbe.finish()
            if status and status[0] < 400 and not (action and action.startswith(READ_PREFIXES)):
                persistence.control_changed(self.service)
            return result
