"""The embedded local cloud as one object: `LocalCloud(config).start()`, `.status()`, `.stop()`.

`start()` launches at once, each detached with its log in `<state>/logs/`:
  moto       `python -m emulation.moto.server --port <aws_port>` (patched moto, every AWS API)
  runtime    `python -m emulation.control.runtime --state-dir <state> --provision` (Lambda, mappings, API,
             Firehose, Glue): imports and builds its services while the others start, provisions
             the description (`emulation.provision.runner.provision_for_up`: each step as soon as moto,
             and for the warehouse step PostgreSQL, answers), then starts the services
  warehouse  PostgreSQL 16 (`emulation.redshift.server`), unless `LOCALCLOUD_WAREHOUSE_DSN` names an
             external one
The runtime provisions rather than `up` itself because it imports boto3, the description and the
API models anyway: one process pays for them, not two. It returns only when moto answers,
PostgreSQL accepts connections, provisioning is done and the runtime's `/health` is 200;
otherwise it stops what it started and raises `CloudStartError` naming the part (or the failed
provision step), the reason and its log file. A second `start()` on a healthy cloud does nothing;
on a partly running one it starts only the parts that are down (or hung), and the others keep
running with their data: a crashed runtime, moto or warehouse comes back alone. moto keeps the
AWS-side state in `<state>/moto/` (`emulation.moto.persistence`) and reports what it restored.

The CLI (`python -m emulation`) and the integration tests' fixture are thin layers over this class.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulation import registry
from emulation.config import EXTERNAL_WAREHOUSE_VAR, REPO_ROOT, CloudConfig, load_resources
from emulation.moto.server import HEALTH_PATH, PERSISTENCE_PATH
from emulation.naming import DescribedCloud
from emulation.provision.runner import PROVISION_FAILED, WAREHOUSE_READY
from emulation.redshift import server as warehouse

from . import preflight
from .preflight import CloudStartError
from .supervisor import (
    PartRecord,
    PidFile,
    http_json,
    http_status,
    is_alive,
    port_owner,
    spawn,
    stop_part,
    tail,
)

START_TIMEOUT_S = float(os.environ.get("LOCALCLOUD_START_TIMEOUT", "60"))
UNANSWERED_GRACE_S = 30.0  # a part that runs but does not answer this long is hung: restarted
POLL_S = 0.02  # readiness polling: a refused connection or a 503 costs well under a millisecond
PARTS = ("moto", "warehouse", "runtime")


@dataclass
class PartStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool
    answering: bool
    detail: str = ""


class LocalCloud(DescribedCloud):
    def __init__(self, config: CloudConfig, out: Callable[[str], None] | None = None):
        self.config = config
        self.pids = PidFile(config.state_dir)
        self.out = out or (lambda line: print(line, flush=True))
        self.started_in_this_call: list[PartRecord] = []

    # -------------------------------------------------------------------------------- handles
    @property
    def runtime_url(self) -> str:
        return self.config.runtime_url

    @property
    def aws_endpoint(self) -> str:
        return self.config.aws_endpoint

    @property
    def api_url(self) -> str:
        """Base URL of the REST API's stage: `http://127.0.0.1:<api_port>/<stage>`."""
        return f"{self.config.api_url}/{self.resources.api.stage}"

    @property
    def api_key(self) -> str | None:
        path = Path(self.config.state_dir) / "api_key"
        return path.read_text().strip() if path.exists() else None

    @property
    def warehouse_dsn(self) -> str:
        return warehouse.superuser_dsn(self.config)

    def log_path(self, part: str) -> Path:
        return self.config.logs_dir / f"{part}.log"

    def client(self, service: str, **kwargs):
        """A boto3 client pointed at this cloud's AWS endpoint with its dummy credentials."""
        import boto3

        env = self.config.aws_env()
        return boto3.client(
            service,
            endpoint_url=self.config.aws_endpoint,
            region_name=self.config.region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            **kwargs,
        )

    def env(self) -> dict[str, str]:
        """What `python -m emulation env` exports (boto3/AWS CLI endpoint, API URL and key, DSN)."""
        values = dict(self.config.aws_env())
        values["API_URL"] = self.api_url
        values["LOCALCLOUD_RUNTIME_URL"] = self.config.runtime_url  # the name compose exports too
        if self.api_key:
            values["API_KEY"] = self.api_key
        if self.config.resources.startswith("cloudformation:"):  # as `python -m deploy env` on AWS
            from emulation.cloudformation.outputs import api_from_outputs

            values.update(api_from_outputs(self.config, self.client))
        try:
            values["WAREHOUSE_DSN"] = self.warehouse_dsn
        except warehouse.WarehouseError:
            pass
        if self.console_url:
            values["CONSOLE_URL"] = self.console_url
        return values

    @property
    def console_url(self) -> str | None:
        """The live console's page, when the runtime runs the `console` service."""
        services = self.config.services
        if services is not None and "console" not in services:
            return None
        return f"{self.config.runtime_url}/console/"

    # -------------------------------------------------------------------------------- status
    def status(self) -> list[PartStatus]:
        records = self.pids.read()
        result = []
        moto = records.get("moto")
        result.append(
            PartStatus("moto", moto.pid if moto else None, self.config.aws_port, bool(moto and is_alive(moto)),
                       self._moto_answers(), self.config.aws_endpoint)
        )  # fmt: skip
        wh = records.get("warehouse")
        external = bool(self.config.warehouse_dsn)
        result.append(
            PartStatus("warehouse", wh.pid if wh else None, None if external else self.config.warehouse_port,
                       external or bool(wh and is_alive(wh)), self._warehouse_answers(),
                       f"external ({EXTERNAL_WAREHOUSE_VAR})" if external
                       else f"embedded {self.config.host}:{self.config.warehouse_port}")
        )  # fmt: skip
        rt = records.get("runtime")
        result.append(
            PartStatus("runtime", rt.pid if rt else None, self.config.runtime_port, bool(rt and is_alive(rt)),
                       self._runtime_ready(), self.config.runtime_url)
        )  # fmt: skip
        return result

    def healthy(self) -> bool:
        return all(part.running and part.answering for part in self.status())

    def _moto_answers(self) -> bool:
        return http_status(self.config.aws_endpoint + HEALTH_PATH, timeout=1.0) is not None

    def _runtime_ready(self) -> bool:
        return http_status(self.config.runtime_url + "/health", timeout=2.0) == 200

    def _warehouse_answers(self) -> bool:
        try:
            dsn = warehouse.superuser_dsn(self.config)
        except warehouse.WarehouseError:
            return False
        import psycopg

        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    # -------------------------------------------------------------------------------- start
    def start(self) -> LocalCloud:
        """Start every part; on a partly running cloud, start only the parts that are not running
        (saying which), so a crashed part comes back without stopping the others."""
        began = time.monotonic()
        self.started_in_this_call = []
        down: tuple[str, ...] = PARTS
        if self.pids.read():
            self._adopt_running_settings()
            down = self._parts_to_start()
            if not down:
                self.out(f"already running ({self.config.state_dir}); nothing to do")
                return self
            kept = [part for part in PARTS if part not in down and self._is_part(part)]
            if kept:
                self.out(f"  {' and '.join(down)} not running: starting {'them' if len(down) > 1 else 'it'}"
                         f" alone ({' and '.join(kept)} keep running, with their data)")  # fmt: skip
            else:
                self.stop(quiet=True)  # leftovers of a cloud that is wholly down (a reboot, ...)
        try:
            self._start_parts(began, set(down))
        except BaseException:
            self._stop_started()
            raise
        if self.console_url:
            self.out(f"  console    {self.console_url}  (make console)")
        self.out(
            f'local cloud ready in {time.monotonic() - began:.1f} s  (eval "$(make -s env)" to use it)'
        )
        return self

    def _is_part(self, part: str) -> bool:
        """The cloud runs this part itself (an external warehouse is not one of its parts)."""
        return not (part == "warehouse" and self.config.warehouse_dsn)

    def _parts_to_start(self) -> tuple[str, ...]:
        """The parts whose process is gone, or runs but does not answer within a grace period
        (those are stopped first: a hung part is restarted, not left holding its port)."""
        records = self.pids.read()
        deadline = time.monotonic() + UNANSWERED_GRACE_S
        down: list[str] = []
        for part in PARTS:
            if not self._is_part(part):
                continue
            record = records.get(part)
            if record is None or not is_alive(record):
                down.append(part)
                continue
            while not self._answers(part):
                if time.monotonic() > deadline or not is_alive(record):
                    self.out(f"  {part} (pid {record.pid}) runs but does not answer: restarting it")
                    self._stop_record(record)
                    self.pids.remove(part)
                    down.append(part)
                    break
                time.sleep(0.1)
        return tuple(down)

    def _answers(self, part: str) -> bool:
        return {"moto": self._moto_answers, "warehouse": self._warehouse_answers,
                "runtime": self._runtime_ready}[part]()  # fmt: skip

    def _adopt_running_settings(self) -> None:
        """A partly running cloud keeps the settings it was started with (`<state>/cloud.json`):
        the environment of this `up` cannot move ports or the warehouse under parts that still run,
        so a restart of the missing parts uses the saved settings, and says what it ignored."""
        try:
            running = CloudConfig.load(self.config.state_dir)
        except (FileNotFoundError, ValueError, TypeError):
            return
        if not any(self._alive(p) for p in PARTS):
            return
        fields = ("aws_port", "api_port", "runtime_port", "warehouse_port", "warehouse_dsn")
        differ = [f for f in fields if getattr(running, f) != getattr(self.config, f)]
        if differ:
            self.out(f"  note: parts of this cloud run: keeping their settings "
                     f"({', '.join(f'{f}={getattr(running, f)}' for f in differ)}); `make down` first "
                     "to change them")  # fmt: skip
        running.state_dir = self.config.state_dir
        self.config = running

    def _alive(self, part: str) -> bool:
        record = self.pids.read().get(part)
        return record is not None and is_alive(record)

    def _start_parts(
        self, began: float, parts: frozenset[str] | set[str] = frozenset(PARTS)
    ) -> None:
        """Start `parts` (all of them for a fresh start) at once; the runtime provisions as soon as
        moto answers (the warehouse step once PostgreSQL does), then starts its services."""
        config = self.config
        only = preflight.runtime_only_arg(config)
        preflight.check_ports(config, only, self.log_path, parts=parts)
        config.logs_dir.mkdir(parents=True, exist_ok=True)
        config.save()
        state = Path(config.state_dir)
        if "warehouse" in parts:  # left by an earlier `up`: the runtime must wait for this start
            (state / WAREHOUSE_READY).unlink(missing_ok=True)
        if "runtime" in parts:
            (state / PROVISION_FAILED).unlink(missing_ok=True)
        moto_proc = runtime_proc = None
        if (
            "moto" in parts
        ):  # the longest to start and needs nothing else: first, the rest meanwhile
            moto_proc = self._spawn("moto", [sys.executable, "-m", registry.MOTO_SERVER,
                                             "--port", str(config.aws_port), "--runtime-url", config.runtime_url,
                                             *self._moto_state_args()])  # fmt: skip
        if "runtime" in parts:
            command = [sys.executable, "-m", registry.RUNTIME, "--state-dir", str(config.state_dir),
                       "--provision"]  # fmt: skip
            if only is not None:
                command += ["--only", only]
            runtime_proc = self._spawn("runtime", command)
        resources = self._load_resources()
        java_warning = preflight.missing_java(only) if "runtime" in parts else None
        if java_warning:
            self.out(f"  WARNING: {java_warning}")
        warehouse_ready = (self._start_warehouse(resources, began)
                           if "warehouse" in parts or not self._is_part("warehouse") else None)  # fmt: skip

        if moto_proc is not None:
            self._wait(
                "moto",
                moto_proc,
                self._moto_answers,
                f"moto did not answer on {config.aws_endpoint}",
            )
            self.out(f"  moto       ready  {config.aws_endpoint}  pid {moto_proc.pid}  "
                     f"({time.monotonic() - began:.1f} s)")  # fmt: skip
        if warehouse_ready is not None:
            warehouse_ready()
        (state / WAREHOUSE_READY).write_text(f"{time.time()}\n")
        if moto_proc is not None:
            self._report_restore(moto_proc, began)
        if runtime_proc is not None:
            self._wait_runtime(runtime_proc, began)
            self.out(f"  runtime    ready  {config.runtime_url}  pid {runtime_proc.pid}  services: "
                     f"{only or 'all'}  ({time.monotonic() - began:.1f} s)")  # fmt: skip

    def _moto_state_args(self) -> list[str]:
        return ["--state-dir", str(self.config.moto_state_dir)] if self.config.durable else []

    def _report_restore(self, proc, began: float) -> None:
        """Say what moto restored (it restores before it listens: the report is ready)."""
        if not self.config.durable:
            return
        status = http_json(self.config.aws_endpoint + PERSISTENCE_PATH, timeout=5.0) or {}
        summary = (status.get("restore") or {}).get("summary")
        if summary:
            self.out(f"  moto       {summary}")

    def _wait_runtime(self, proc, began: float) -> None:
        """Until `/health` is 200, saying when provisioning is done; a failed step is reported as
        `provision step <name>` with provision.log."""
        deadline, provisioned = time.monotonic() + START_TIMEOUT_S, False
        while time.monotonic() < deadline:
            # The runtime holds the answer until its state changes (up to 1 s: then check its pid).
            health = http_json(self.config.runtime_url + "/health", timeout=5.0,
                               headers={"Prefer": "wait=1"})  # fmt: skip
            if health and health.get("provisioned") and not provisioned:
                provisioned = True
                self.out(f"  provision  done  ({time.monotonic() - began:.1f} s)")
            if health and health.get("ready"):
                return
            if proc.poll() is not None:
                failed = Path(self.config.state_dir) / PROVISION_FAILED
                if failed.exists():
                    info = json.loads(failed.read_text())
                    raise CloudStartError(f"provision step {info['step']}", info["message"],
                                          self.log_path("provision"))  # fmt: skip
                reason = f"exited with code {proc.returncode} during start"
                if "Address already in use" in tail(self.log_path("runtime"), 5):
                    reason += preflight.taken_meanwhile(self.config, "runtime")
                raise CloudStartError("runtime", reason, self.log_path("runtime"))
            if health is None:  # not listening yet (still importing)
                time.sleep(POLL_S)
        what = (
            "provisioning did not finish" if not provisioned else "GET /health did not answer 200"
        )
        raise CloudStartError("runtime", f"{what} within {START_TIMEOUT_S:.0f} s (see also "
                              f"{self.log_path('provision')})", self.log_path("runtime"))  # fmt: skip

    def _start_warehouse(self, resources, began: float) -> Callable[[], None]:
        """Start PostgreSQL (or check the external DSN) in the background; returns a function
        that blocks until it accepts connections (raising CloudStartError if it does not)."""
        config = self.config
        if config.warehouse_dsn:
            warehouse.prepare_info(config, warehouse.database_name(resources), None)
            check = self._external_warehouse_check
        else:
            try:
                pg_alive, record, wp = warehouse.start(config, self.log_path("warehouse"))
            except warehouse.WarehouseError as exc:
                raise CloudStartError("warehouse", str(exc), self.log_path("warehouse")) from exc
            self._record(record)
            warehouse.prepare_info(config, warehouse.database_name(resources), wp)

            def check() -> None:
                try:
                    warehouse.wait_ready(config, wp, pg_alive, timeout=START_TIMEOUT_S)
                except warehouse.WarehouseError as exc:
                    raise CloudStartError(
                        "warehouse", str(exc), self.log_path("warehouse")
                    ) from exc
                self.out(f"  warehouse  ready  {config.host}:{config.warehouse_port}  pid {record.pid}  "
                         f"({time.monotonic() - began:.1f} s)")  # fmt: skip

        return _Background(check, name="warehouse-ready").result

    def _external_warehouse_check(self) -> None:
        if not self._warehouse_answers():
            raise CloudStartError("warehouse", f"the external warehouse ({EXTERNAL_WAREHOUSE_VAR}) does not "
                                  "accept connections")  # fmt: skip
        self.out(f"  warehouse  external ({EXTERNAL_WAREHOUSE_VAR}) accepts connections")

    def _load_resources(self):
        try:
            return load_resources(self.config.resources)
        except Exception as exc:  # a bad spec or an invalid description: say which
            raise CloudStartError(
                "resources", f"cannot load {self.config.resources!r}: {exc}"
            ) from exc

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.aws_env())
        env.update(self.config.extra_env)
        env["LOCALCLOUD_STATE_DIR"] = str(self.config.state_dir)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, name: str, command: list[str]):
        port = {"moto": self.config.aws_port, "runtime": self.config.runtime_port}[name]
        proc, record = spawn(
            name, command, self.log_path(name), env=self._child_env(), cwd=REPO_ROOT, port=port
        )
        self._record(record)
        return proc

    def _record(self, record: PartRecord) -> None:
        self.pids.add(record)
        self.started_in_this_call.append(record)

    def _wait(self, part: str, proc, ready: Callable[[], bool], reason: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready():
                return
            if proc.poll() is not None:
                reason = f"exited with code {proc.returncode} during start"
                if "Address already in use" in tail(self.log_path(part), 5):
                    reason += preflight.taken_meanwhile(self.config, part)
                raise CloudStartError(part, reason, self.log_path(part))
            time.sleep(POLL_S)
        raise CloudStartError(part, f"{reason} within {START_TIMEOUT_S:.0f} s", self.log_path(part))

    # -------------------------------------------------------------------------------- stop
    def _stop_started(self) -> None:
        for record in reversed(self.started_in_this_call):
            self._stop_record(record)
            self.pids.remove(record.name)

    def _stop_record(self, record: PartRecord) -> bool:
        if record.name == "warehouse":
            return warehouse.stop(self.config, record)
        return stop_part(record)

    def stop(self, quiet: bool = False) -> list[str]:
        """Stop exactly the recorded parts (runtime first, the warehouse last). Safe when none runs."""
        records = self.pids.read()
        stopped = []
        for name in ("runtime", "moto", "warehouse"):
            record = records.get(name)
            if record is None:
                continue
            if self._stop_record(record):
                stopped.append(f"{name} (pid {record.pid})")
            self.pids.remove(name)
        if not quiet:
            self.out("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
        return stopped

    def destroy(self) -> None:
        """Stop and delete the warehouse's data, including a copy relocated under /tmp (tests)."""
        self.stop(quiet=True)
        if not self.config.warehouse_dsn:
            warehouse.destroy(self.config)

    # -------------------------------------------------------------------------------- warehouse
    def warehouse_stop(self) -> bool:
        """Stop the embedded PostgreSQL only (fault tests: "the warehouse is down")."""
        self._require_embedded()
        record = self.pids.read().get("warehouse")
        stopped = warehouse.stop(self.config, record)
        self.pids.remove("warehouse")
        return stopped

    def warehouse_start(self) -> int:
        """Start the embedded PostgreSQL again (same data, port and password); returns its pid."""
        self._require_embedded()
        record = self.pids.read().get("warehouse")
        if record is not None and is_alive(record) and self._warehouse_answers():
            return record.pid
        owner = port_owner(self.config.warehouse_port, self.config.host)
        if owner and warehouse.postmaster_pid(self.config) is None:
            raise CloudStartError("warehouse", f"port {self.config.warehouse_port} (warehouse_port) is "
                                  f"already in use by {owner}", self.log_path("warehouse"))  # fmt: skip
        alive, record, wp = warehouse.start(self.config, self.log_path("warehouse"))
        self.pids.add(record)
        try:
            warehouse.wait_ready(self.config, wp, alive, timeout=START_TIMEOUT_S)
        except warehouse.WarehouseError as exc:
            raise CloudStartError("warehouse", str(exc), self.log_path("warehouse")) from exc
        return record.pid

    def _require_embedded(self) -> None:
        if self.config.warehouse_dsn:
            raise CloudStartError(
                "warehouse",
                f"the warehouse is external ({EXTERNAL_WAREHOUSE_VAR}): the local cloud does not run it",
            )


class _Background:
    """Run `fn` in a daemon thread now; `result()` waits for it and re-raises its exception."""

    def __init__(self, fn: Callable[[], None], name: str):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self._error = exc

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
