"""Fault switches for the local Lambda runtime, in the spirit of dlt's fault-injecting `dummy`
destination: reliability tests flip them to watch retries, bisection and dead-lettering happen.

Per function:
- `fail_probability` (0..1): the invocation fails with an `InjectedFault` error, as if the
  handler raised, without running the handler.
- `fail_on_substring`: fail when the event contains the text; for Kinesis events the decoded
  record data is searched too (the raw event holds it base64-encoded).
- `latency_ms`: sleep inside the worker before the handler runs (counts against the timeout).
- `kill_next`: the worker process is killed (SIGKILL) on its next invocation, mid-batch; one shot.

Control routes (runtime control port): `POST /faults` with
`{"function": name, "fail_probability": p, "fail_on_substring": s, "latency_ms": n, "kill_next": true}`
merges the given switches for that function; `DELETE /faults` clears all (or one function's, with
`{"function": name}`); `GET /faults` lists them.

The probability uses Python's `random`, seeded per runtime unless `seed` is given.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

FIELDS = {"fail_probability", "fail_on_substring", "latency_ms", "kill_next"}


class FaultSwitchError(ValueError):
    """A fault request that names an unknown function or an invalid value."""


@dataclass
class FunctionFaults:
    fail_probability: float = 0.0
    fail_on_substring: str | None = None
    latency_ms: int = 0
    kill_next: bool = False

    def is_empty(self) -> bool:
        return self == FunctionFaults()


@dataclass(frozen=True)
class FaultPlan:
    """What the runtime does to one invocation."""

    fail_message: str | None = None
    latency_ms: int = 0
    crash: bool = False


NO_FAULT = FaultPlan()


class FaultSwitches:
    def __init__(self, functions: Iterable[str], seed: int | None = None):
        self._known = set(functions)
        self._faults: dict[str, FunctionFaults] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def set(self, function: str, **switches: Any) -> FunctionFaults:
        if function not in self._known:
            raise FaultSwitchError(
                f"no function named {function!r}; known functions: {', '.join(sorted(self._known))}"
            )
        unknown = set(switches) - FIELDS
        if unknown:
            raise FaultSwitchError(
                f"unknown fault switch(es) {sorted(unknown)}; use {sorted(FIELDS)}"
            )
        checked = _validate(switches)
        with self._lock:
            current = self._faults.get(function, FunctionFaults())
            updated = FunctionFaults(**{**asdict(current), **checked})
            if updated.is_empty():
                self._faults.pop(function, None)
            else:
                self._faults[function] = updated
            return updated

    def clear(self, function: str | None = None) -> None:
        with self._lock:
            if function is None:
                self._faults.clear()
            else:
                self._faults.pop(function, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: asdict(f) for name, f in sorted(self._faults.items())}

    def plan(self, function: str, payload: bytes) -> FaultPlan:
        """Decide this invocation's faults; consumes a pending `kill_next`."""
        with self._lock:
            faults = self._faults.get(function)
            if faults is None:
                return NO_FAULT
            crash = faults.kill_next
            if crash:
                faults.kill_next = False
                if faults.is_empty():
                    self._faults.pop(function, None)
            roll = self._random.random()
        message = None
        if faults.fail_on_substring and _event_contains(payload, faults.fail_on_substring):
            message = f"fault switch: event contains {faults.fail_on_substring!r}"
        elif faults.fail_probability and roll < faults.fail_probability:
            message = f"fault switch: fail_probability={faults.fail_probability}"
        return FaultPlan(fail_message=message, latency_ms=faults.latency_ms, crash=crash)

    def register_routes(self, control) -> None:
        control.register("GET", r"/faults", lambda _p, _h, _b: (200, {}, self.snapshot()))
        control.register("POST", r"/faults", self._post)
        control.register("DELETE", r"/faults", self._delete)

    def _post(self, _params, _headers, body: bytes):
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict) or "function" not in request:
                raise FaultSwitchError('body must be a JSON object with "function" and switches')
            function = request.pop("function")
            updated = self.set(function, **request)
        except (FaultSwitchError, json.JSONDecodeError) as exc:
            return 400, {}, {"message": str(exc)}
        return 200, {}, {"function": function, **asdict(updated)}

    def _delete(self, _params, _headers, body: bytes):
        try:
            request = json.loads(body) if body else {}
        except json.JSONDecodeError as exc:
            return 400, {}, {"message": f"body is not JSON: {exc}"}
        function = request.get("function") if isinstance(request, dict) else None
        if function is not None and function not in self._known:
            return 400, {}, {"message": f"no function named {function!r}"}
        self.clear(function)
        return 200, {}, self.snapshot()


def _validate(switches: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    if "fail_probability" in switches:
        p = switches["fail_probability"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise FaultSwitchError(f"fail_probability must be a number in 0..1, got {p!r}")
        checked["fail_probability"] = float(p)
    if "fail_on_substring" in switches:
        s = switches["fail_on_substring"]
        if s is not None and (not isinstance(s, str) or not s):
            raise FaultSwitchError(
                f"fail_on_substring must be a non-empty string or null, got {s!r}"
            )
        checked["fail_on_substring"] = s
    if "latency_ms" in switches:
        n = switches["latency_ms"]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 900_000:
            raise FaultSwitchError(f"latency_ms must be an integer in 0..900000, got {n!r}")
        checked["latency_ms"] = n
    if "kill_next" in switches:
        k = switches["kill_next"]
        if not isinstance(k, bool):
            raise FaultSwitchError(f"kill_next must be true or false, got {k!r}")
        checked["kill_next"] = k
    return checked


def _event_contains(payload: bytes, text: str) -> bool:
    needle = text.encode()
    if needle in payload:
        return True
    if b'"kinesis"' not in payload:
        return False
    try:
        records = json.loads(payload).get("Records") or []
        return any(needle in base64.b64decode(r["kinesis"]["data"]) for r in records)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
