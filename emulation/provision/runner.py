"""Run the provision steps (`emulation.registry.PROVISION_STEPS`) for `up`, each as soon as it may start.

A step starts when the steps it depends on (`DEPENDS`) are done and its gate (if any: `up` gates
`warehouse` on PostgreSQL accepting connections) has passed, so steps that do not depend on each
other run side by side: `core` next to `warehouse`; `api` as soon as `core` is done, without
waiting for PostgreSQL; `firehose` and `glue` once both are done. `waves()` shows the same order
grouped in rounds. A step missing from `DEPENDS` waits for every step listed before it, so a new
step is safe by default. A step raising NotImplementedError is reported as skipped (its
owner has not written it yet); any other exception fails `up`, with the traceback in
`<state>/logs/provision.log`.

Under `up`, the runtime process provisions (`provision_for_up`, `python -m emulation.control.runtime
--provision`): it imports boto3, the description and the API models for its services anyway, so
`up` itself needs none of them. `up` and the runtime coordinate through files in the state folder:
`up` writes `warehouse.ready` once PostgreSQL accepts connections; the runtime writes
`provision.failed` (`{"step", "message"}`) if a step fails, then exits.

Steps create their boto3 clients with `boto3.client(...)`; while `run_steps` runs (and from
`ClientCache.prepare`, before the AWS endpoint even answers) identical calls share one client,
built once on one session: a client costs 10-200 ms of CPU to build, a request a few ms.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from emulation.registry import PROVISION_STEPS as STEPS
from emulation.registry import TEMPLATE_PROVISION_STEPS

# What each step reads that another step creates.
DEPENDS: dict[str, tuple[str, ...]] = {
    "core": (),
    "warehouse": ("secrets",),  # template mode: keeps the password the `secrets` step generated
    "api": ("core",),
    "firehose": ("core", "warehouse"),
    "glue": ("core", "warehouse"),
    # template mode (emulation.registry.TEMPLATE_PROVISION_STEPS)
    "secrets": (),
    "outputs": ("core", "secrets", "warehouse", "api", "firehose", "glue"),
}


def steps_for(resources) -> tuple[str, ...]:
    """The steps that provision `resources` (a translated template has its own)."""
    return TEMPLATE_PROVISION_STEPS if hasattr(resources, "stack_name") else STEPS


# The clients the steps of emulation.provision build (prepared while moto is still starting).
STEP_CLIENTS = (
    "kinesis", "dynamodb", "s3", "sqs", "iam", "lambda", "secretsmanager", "apigateway",
    "firehose", "glue",
)  # fmt: skip


WAREHOUSE_READY = "warehouse.ready"
PROVISION_FAILED = "provision.failed"
POLL_S = 0.02


class ProvisionError(RuntimeError):
    def __init__(self, step: str, exc: BaseException):
        self.step = step
        super().__init__(f"{type(exc).__name__}: {exc}")


class ProvisionStopped(Exception):
    """`up` stopped the runtime, or went away, before provisioning could finish."""


def provision_for_up(
    config,
    resources,
    stop: threading.Event,
    timeout: float = 600.0,
    shared_clients: Callable[[str], Any] | None = None,
) -> None:
    """The runtime's share of `up`: wait until moto answers, then run every step (the warehouse
    step once `up` has written `<state>/warehouse.ready`). A failed step is also written to
    `<state>/provision.failed` for `up` to report; see the module docstring."""
    from emulation.control.supervisor import http_status
    from emulation.moto.server import HEALTH_PATH
    from emulation.naming import LocalNames

    state = Path(config.state_dir)
    clients = ClientCache(shared_clients, config)
    clients.prepare(config)
    parent, deadline = os.getppid(), time.monotonic() + timeout

    def wait_until(ready: Callable[[], bool], what: str) -> None:
        while not ready():
            if stop.wait(POLL_S) or os.getppid() != parent:
                raise ProvisionStopped(f"stopped while waiting for {what}")
            if time.monotonic() > deadline:
                raise ProvisionStopped(f"{what} not ready within {timeout:.0f} s")

    wait_until(lambda: http_status(config.aws_endpoint + HEALTH_PATH, timeout=1.0) is not None,
               f"moto on {config.aws_endpoint}")  # fmt: skip
    gates = {"warehouse": lambda: wait_until((state / WAREHOUSE_READY).exists, "the warehouse")}
    try:
        run_steps(config, resources, LocalNames(resources, config.region),
                  config.logs_dir / "provision.log", _log_line, gates=gates, clients=clients)  # fmt: skip
    except ProvisionError as exc:
        failed = {"step": exc.step, "message": str(exc)}
        (state / PROVISION_FAILED).write_text(json.dumps(failed))
        raise


def _log_line(line: str) -> None:
    import logging

    logging.getLogger("localcloud.provision").warning("%s", line.strip())


def _needs(steps: tuple[str, ...]) -> dict[str, set[str]]:
    shorts = [s.rsplit(".", 1)[-1] for s in steps]
    return {
        short: set(DEPENDS.get(short, shorts[:i])) & set(shorts) for i, short in enumerate(shorts)
    }


def waves(steps: tuple[str, ...]) -> list[list[str]]:
    """Group step modules into waves whose members depend only on earlier waves."""
    shorts = [s.rsplit(".", 1)[-1] for s in steps]
    needs = _needs(steps)
    done: set[str] = set()
    result = []
    while len(done) < len(shorts):
        ready = [s for s in shorts if s not in done and needs[s] <= done]
        if not ready:
            raise RuntimeError(f"provision steps depend on each other in a cycle: {needs}")
        result.append([steps[shorts.index(s)] for s in ready])
        done.update(ready)
    return result


def run_steps(
    config,
    resources,
    names,
    log: Path,
    out: Callable[[str], None],
    *,
    gates: dict[str, Callable[[], None]] | None = None,
    clients: ClientCache | None = None,
) -> None:
    """Run every step; `gates[short]()` is called (and may block or raise) before that step."""
    steps = steps_for(resources)
    waves(steps)  # refuse a dependency cycle before starting anything
    with open(log, "a") as f:
        f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} provisioning {config.resources}\n")
    log_lock = threading.Lock()
    gates = gates or {}

    def run(step: str) -> None:
        short = step.rsplit(".", 1)[-1]
        if short in gates:
            gates[short]()  # a part that is not ready raises its own error, not a step failure
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

    cache = clients or ClientCache()
    with cache.installed(), ThreadPoolExecutor(max_workers=len(steps) or 1) as pool:
        _run_as_ready(steps, _needs(steps), pool, run)


def _run_as_ready(steps, needs, pool, run) -> None:
    """Submit each step once its dependencies are done; the first failure stops new submissions."""
    shorts = {s.rsplit(".", 1)[-1]: s for s in steps}
    done: set[str] = set()
    running: dict = {}
    while len(done) < len(shorts):
        for short, step in shorts.items():
            if short not in done and short not in running.values() and needs[short] <= done:
                running[pool.submit(run, step)] = short
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in finished:
            future.result()  # raises the step's error
            done.add(running.pop(future))


# boto3's default session is not thread-safe while it builds clients: every builder in a process
# (these steps, the runtime's `ctx.boto`) holds this one lock, reentrant since one may call the other.
BOTO3_BUILD_LOCK = threading.RLock()


class ClientCache:
    """While installed, `boto3.client(...)` returns one shared client per identical call.

    boto3's default session is not thread-safe while it builds clients, so building is serialized;
    the clients themselves are thread-safe and are shared by the steps' threads.
    """

    _lock = BOTO3_BUILD_LOCK

    def __init__(self, shared: Callable[[str], Any] | None = None, config=None):
        """`shared(service)`, when given, builds the clients steps ask for with the usual
        arguments (`step_client_kwargs(config)`): the runtime passes its own `ctx.boto`."""
        self._clients: dict = {}
        self._installed = 0
        self._original = None
        self._shared = shared
        self._shared_kwargs = step_client_kwargs(config) if shared is not None else None

    def client(self, *args, **kwargs):
        if self._shared is not None and len(args) == 1 and kwargs == self._shared_kwargs:
            with self._lock:  # reentrant: `shared` builds through boto3.client, i.e. back here
                return self._shared(args[0])
        try:
            key = (args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # an unhashable argument: build a private client
            key = None
        with self._lock:
            if key is not None and key in self._clients:
                return self._clients[key]
            import boto3

            made = (self._original or boto3.client)(*args, **kwargs)
            if key is not None:
                self._clients[key] = made
            return made

    def prepare(self, config, services: Iterable[str] = STEP_CLIENTS) -> threading.Thread:
        """Build the steps' clients in a background thread (no request is sent)."""

        def build() -> None:
            for service in services:
                try:
                    self.client(service, **step_client_kwargs(config))
                except Exception:  # noqa: BLE001 - only a head start: the step builds it again and reports
                    return

        thread = threading.Thread(target=build, name="boto3-clients", daemon=True)
        thread.start()
        return thread

    def installed(self):
        return _Installed(self)


class _Installed:
    def __init__(self, cache: ClientCache):
        self.cache = cache

    def __enter__(self):
        import boto3

        cache = self.cache
        with cache._lock:
            if cache._installed == 0:
                cache._original = boto3.client
                boto3.client = cache.client
            cache._installed += 1
        return cache

    def __exit__(self, *exc_info):
        import boto3

        cache = self.cache
        with cache._lock:
            cache._installed -= 1
            if cache._installed == 0:
                boto3.client = cache._original
                cache._original = None


def step_client_kwargs(config) -> dict:
    """The arguments every provision step passes to `boto3.client` (so the cache can share)."""
    return dict(endpoint_url=config.aws_endpoint, region_name=config.region,
                aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
