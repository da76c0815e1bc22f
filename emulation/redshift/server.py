"""The warehouse process: a real PostgreSQL 16 standing in for Redshift Serverless.

The binaries are pgserver's bundled PostgreSQL 16 (`pgserver/pginstall`), driven directly
(`initdb`, `postgres`, `pg_ctl stop`) so the local cloud owns the postmaster's pid like any other
part. Data lives in `<state>/warehouse/pgdata` and survives `down`/`up`. The server listens on
`127.0.0.1:<warehouse_port>` (password auth, SCRAM) and on a unix socket in `<state>/warehouse/`
(trust, protected by the directory's 0700 mode). The superuser DSN is written to
`<state>/warehouse.json` (mode 600). With `WAREHOUSE_DSN` set, no PostgreSQL is started and that
DSN is used as it is.

As root, PostgreSQL runs as the system user `pgserver`; where its files live and why is in
`emulation.redshift.dirs`.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from emulation.config import CloudConfig
from emulation.control.supervisor import PartRecord, spawn, stop_part

from .dirs import (
    PG_SUPERUSER,
    WarehouseError,
    WarehousePaths,
    _existing_user,
    _live_postmaster,
    _run_as,
    paths,
    pginstall_dir,
)


def database_name(resources) -> str:
    warehouse = getattr(resources, "warehouse", None)
    return warehouse.database if warehouse is not None else "postgres"


def initdb(config: CloudConfig, wp: WarehousePaths) -> bool:
    """Create the cluster if missing (UTF8, superuser `postgres`). Returns True if it did."""
    if (wp.pgdata / "PG_VERSION").exists():
        return False
    user = _existing_user()
    result = subprocess.run(
        [
            str(wp.bin_dir / "initdb"), "-D", str(wp.pgdata), "-U", PG_SUPERUSER,
            "--encoding=UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
        ],
        capture_output=True, text=True, cwd=wp.pgdata, check=False, **_run_as(user),
    )  # fmt: skip
    if result.returncode != 0:
        raise WarehouseError(f"initdb failed for {wp.pgdata}:\n{result.stderr.strip()[-2000:]}")
    return True


def start(
    config: CloudConfig, log_path: Path
) -> tuple[Callable[[], bool], PartRecord, WarehousePaths]:
    """Start the postmaster detached; returns (is_alive, record, paths). See `wait_ready`.

    A postmaster already serving this data dir (its pid lost, e.g. pids.json deleted) is adopted.
    """
    wp = paths(config, create=True)
    running = postmaster_pid(config)
    if running is not None:
        with open(log_path, "a") as f:
            f.write(f"--- adopting the running postmaster pid {running} of {wp.pgdata}\n")
        return (
            (lambda: postmaster_pid(config) == running),
            record_for(running, config, log_path),
            wp,
        )
    initdb(config, wp)
    user = _existing_user()
    command = [
        str(wp.bin_dir / "postgres"), "-D", str(wp.pgdata),
        "-h", config.host, "-p", str(config.warehouse_port), "-k", str(wp.socket_dir),
        "-c", "logging_collector=off",
        # synchronous_commit stays on (PostgreSQL's default): with it off, a crash of the warehouse
        # (kill -9) loses commits acknowledged in the last ~0.6 s, e.g. a Firehose COPY already
        # checkpointed past its records. Commits here are few (a COPY per Firehose buffer).
        "-c", "max_connections=200",
    ]  # fmt: skip
    proc, record = spawn(
        "warehouse", command, log_path, port=config.warehouse_port, cwd=wp.pgdata, **_run_as(user)
    )
    return (lambda: proc.poll() is None), record, wp


def wait_ready(config: CloudConfig, wp: WarehousePaths, proc_alive, timeout: float = 30.0) -> None:
    """Wait until the socket accepts connections, then set the password and create the database."""
    import psycopg

    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if not proc_alive():
            raise WarehouseError(f"PostgreSQL exited during start ({last_error or 'see its log'})")
        try:
            conn = psycopg.connect(
                host=str(wp.socket_dir), port=config.warehouse_port, user=PG_SUPERUSER,
                dbname="postgres", autocommit=True, connect_timeout=2,
            )  # fmt: skip
            break
        except psycopg.OperationalError as exc:
            last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            time.sleep(0.02)  # a refused connection is cheap: poll tightly, start-up is ~0.3 s
    else:
        raise WarehouseError(
            f"PostgreSQL did not accept connections within {timeout:.0f} s: {last_error}"
        )
    from psycopg import sql

    with conn:
        info = _read_info(config)
        password = info.get("password") or secrets.token_urlsafe(24)
        # Every start: a fresh initdb (pgdata wiped, warehouse.json kept) must still match the file.
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(PG_SUPERUSER), sql.Literal(password)
            )
        )
        database = info.get("database") or "postgres"
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    _write_info(config, {**info, "password": password})


def prepare_info(config: CloudConfig, database: str, wp: WarehousePaths | None) -> None:
    """Write `<state>/warehouse.json` before start: embedded (DSN without password yet) or external."""
    info = _read_info(config)
    if config.warehouse_dsn:
        _write_info(config, {"external": True, "dsn": config.warehouse_dsn})
        return
    info.update(
        external=False,
        host=config.host,
        port=config.warehouse_port,
        user=PG_SUPERUSER,
        database=database,
        pgdata=str(wp.pgdata) if wp else info.get("pgdata"),
        socket_dir=str(wp.socket_dir) if wp else info.get("socket_dir"),
        relocated=str(wp.relocated) if wp and wp.relocated else None,
    )
    _write_info(config, info)


def superuser_dsn(config: CloudConfig) -> str:
    """DSN of the warehouse's superuser on its database (the external DSN when one is configured)."""
    if config.warehouse_dsn:
        return config.warehouse_dsn
    info = _read_info(config)
    if not info.get("dsn"):
        raise WarehouseError(
            f"the warehouse of {config.state_dir} has not been started: run `make up`"
        )
    return info["dsn"]


def _info_path(config: CloudConfig) -> Path:
    return Path(config.state_dir) / "warehouse.json"


def _read_info(config: CloudConfig) -> dict:
    path = _info_path(config)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _write_info(config: CloudConfig, info: dict) -> None:
    """Write warehouse.json with mode 600 from the start (it holds a password)."""
    info = dict(info)
    if not info.get("external") and info.get("password"):
        info["dsn"] = (
            f"postgresql://{PG_SUPERUSER}:{quote(info['password'], safe='')}@{info['host']}:"
            f"{info['port']}/{info['database']}"
        )
    path = _info_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def stop(config: CloudConfig, record: PartRecord | None, timeout: float = 15.0) -> bool:
    """`pg_ctl stop -m fast` (as PostgreSQL's user), then signals if it is still there."""
    wp = paths(config)
    running = record is not None
    if (wp.pgdata / "postmaster.pid").exists():
        user = _existing_user()
        subprocess.run(
            [str(pginstall_dir() / "bin" / "pg_ctl"), "stop", "-D", str(wp.pgdata), "-m", "fast", "-w",
             "-t", str(int(timeout))],
            capture_output=True, text=True, cwd="/", check=False, **_run_as(user),
        )  # fmt: skip
        running = True
    if record is not None:
        stop_part(record, timeout=5.0, sig=signal.SIGINT)  # SIGINT = PostgreSQL's fast shutdown
    return running


def postmaster_pid(config: CloudConfig) -> int | None:
    """The pid in postmaster.pid, if that process is alive (adopts a server our pids.json lost)."""
    return _live_postmaster(paths(config).pgdata)


def destroy(config: CloudConfig) -> None:
    """Delete the warehouse's data (used by tests' teardown; the cloud must be stopped)."""
    wp = paths(config)
    if wp.relocated is not None:
        shutil.rmtree(wp.relocated, ignore_errors=True)
    shutil.rmtree(Path(config.state_dir) / "warehouse", ignore_errors=True)


def record_for(pid: int, config: CloudConfig, log_path: Path) -> PartRecord:
    import psutil

    proc = psutil.Process(pid)
    return PartRecord(
        "warehouse", pid, proc.create_time(), proc.cmdline(), config.warehouse_port, str(log_path)
    )


__all__ = ["WarehouseError", "paths", "start", "stop", "superuser_dsn", "wait_ready"]
