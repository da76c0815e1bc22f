"""Run the provision steps of `emulation.provision.STEPS` for `up`, in dependency waves.

Steps that do not depend on each other run side by side (the first wave: `core` next to
`warehouse`, which only needs PostgreSQL and Secrets Manager; the second: `api`, `firehose` and
`glue`, which read what the first wave made). A step missing from `DEPENDS` waits for every step
listed before it in STEPS, so a new step is safe by default. A step raising NotImplementedError is
reported as skipped (its owner has not written it yet); any other exception fails `up`, with the
traceback in `<state>/logs/provision.log`.
"""

from __future__ import annotations

import importlib
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# What each step reads that another step creates.
DEPENDS: dict[str, tuple[str, ...]] = {
    "core": (),
    "warehouse": (),
    "api": ("core",),
    "firehose": ("core", "warehouse"),
    "glue": ("core", "warehouse"),
}


class ProvisionError(RuntimeError):
    def __init__(self, step: str, exc: BaseException):
        self.step = step
        super().__init__(f"{type(exc).__name__}: {exc}")


def waves(steps: tuple[str, ...]) -> list[list[str]]:
    """Group step modules into waves whose members depend only on earlier waves."""
    shorts = [s.rsplit(".", 1)[-1] for s in steps]
    needs = {
        short: set(DEPENDS.get(short, shorts[:i])) & set(shorts) for i, short in enumerate(shorts)
    }
    done: set[str] = set()
    result = []
    while len(done) < len(shorts):
        ready = [s for s in shorts if s not in done and needs[s] <= done]
        if not ready:
            raise RuntimeError(f"provision steps depend on each other in a cycle: {needs}")
        result.append([steps[shorts.index(s)] for s in ready])
        done.update(ready)
    return result


def run_steps(config, resources, names, log: Path, out: Callable[[str], None]) -> None:
    from .provision import STEPS

    with open(log, "a") as f:
        f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} provisioning {config.resources}\n")
    log_lock = threading.Lock()

    def run(step: str) -> None:
        short = step.rsplit(".", 1)[-1]
        started = time.monotonic()
        try:
            importlib.import_module(step).provision(config, resources, names)
        except NotImplementedError:
            out(f"  provision  WARNING: step {short} skipped (not implemented)")
            outcome = "skipped (not implemented)"
        except Exception as exc:
            with log_lock, open(log, "a") as f:
                f.write(f"step {short} FAILED\n{traceback.format_exc()}")
            raise ProvisionError(short, exc) from exc
        else:
            outcome = f"ok in {time.monotonic() - started:.2f} s"
        with log_lock, open(log, "a") as f:
            f.write(f"step {short}: {outcome}\n")

    with _serialized_boto3_clients(), ThreadPoolExecutor(max_workers=4) as pool:
        for wave in waves(STEPS):
            for future in [pool.submit(run, step) for step in wave]:
                future.result()


class _serialized_boto3_clients:
    """Steps call `boto3.client(...)` on boto3's shared default session, which is not thread-safe
    while it builds clients; serialize that call (the clients themselves are thread-safe)."""

    _lock = threading.Lock()

    def __enter__(self):
        import boto3

        self._boto3, self._original = boto3, boto3.client
        lock, original = self._lock, boto3.client

        def client(*args, **kwargs):
            with lock:
                return original(*args, **kwargs)

        boto3.client = client
        return self

    def __exit__(self, *exc_info):
        self._boto3.client = self._original
