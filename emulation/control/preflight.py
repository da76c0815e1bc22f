"""Checks `up` makes before starting anything, so a failure names its cause and the fix.

- the runtime services asked for exist (`LOCALCLOUD_SERVICES`);
- every port the cloud will bind is free, else which process holds it (and the part's log says so);
- Java is there when the Glue runner is (local Spark needs a JVM; only a warning: `up` works).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from emulation.config import CloudConfig
from emulation.redshift import server as warehouse
from emulation.registry import SERVICES

from .supervisor import port_owner, tail


class CloudStartError(RuntimeError):
    """A part of the local cloud did not become ready; `part`, `reason` and `log` say which and why."""

    def __init__(self, part: str, reason: str, log: Path | str | None = None):
        self.part, self.reason, self.log = part, reason, log
        message = f"{part}: {reason}"
        if log:
            message += f"\n  log: {log}"
            last = tail(log, 15)
            if last.strip():
                message += "\n  last lines:\n" + "\n".join(
                    "    " + line for line in last.splitlines()
                )
        super().__init__(message)


def runtime_only_arg(config: CloudConfig) -> str | None:
    """The runtime's `--only` value for `config.services` (None = every service)."""
    services = config.services
    if services is None:
        return None
    known = [name for name, _ in SERVICES]
    unknown = [name for name in services if name not in known]
    if unknown:
        raise CloudStartError(
            "runtime",
            f"unknown service(s) {', '.join(unknown)} in LOCALCLOUD_SERVICES; known: "
            f"{', '.join(known)} (or 'none')",
        )
    # The runtime starts only the listed services; a name matching none starts none.
    return ",".join(services) if services else "none"


def check_ports(
    config: CloudConfig,
    only: str | None,
    log_path: Callable[[str], Path],
    parts: Iterable[str] = ("moto", "warehouse", "runtime"),
) -> None:
    """The ports of the parts about to start (`parts`) are free."""
    parts = set(parts)
    wanted = [
        ("moto", "aws_port", config.aws_port),
        ("runtime", "runtime_port", config.runtime_port),
    ]
    if only is None or "api" in only.split(","):
        wanted.append(("runtime", "api_port", config.api_port))
    if not config.warehouse_dsn and warehouse.postmaster_pid(config) is None:  # else: adopted
        wanted.append(("warehouse", "warehouse_port", config.warehouse_port))
    wanted = [entry for entry in wanted if entry[0] in parts]
    seen: dict[int, str] = {}
    for part, field_name, port in wanted:
        if port in seen:
            raise CloudStartError(
                part, f"{field_name} {port} is also {seen[port]}: give each part its own port"
            )
        seen[port] = field_name
        owner = port_owner(port, config.host)
        if owner:
            log = log_path(part)
            log.parent.mkdir(parents=True, exist_ok=True)
            reason = (f"port {port} ({field_name}) is already in use by {owner}; stop it or choose "
                      f"another port (LOCALCLOUD_{field_name.upper()})")  # fmt: skip
            with open(log, "a") as f:
                f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} not started: {reason}\n")
            raise CloudStartError(part, reason, log)


def taken_meanwhile(config: CloudConfig, part: str) -> str:
    """Name the port another process took between our check and the part's bind."""
    fields = {"moto": ["aws_port"], "runtime": ["runtime_port", "api_port"]}.get(part, [])
    for field_name in fields:
        port = getattr(config, field_name)
        owner = port_owner(port, config.host)
        if owner:
            return f": port {port} ({field_name}) was taken meanwhile by {owner}"
    return ": a port was taken meanwhile (see the log)"


def missing_java(only: str | None) -> str | None:
    """A warning when the Glue runner will run but no JVM is found."""
    if only is not None and "glue" not in only.split(","):
        return None
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (java_home and Path(java_home, "bin", "java").exists()):
        return None
    return ("java not found (PATH, JAVA_HOME): Glue job runs will fail; install Java 17 "
            "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME")  # fmt: skip
