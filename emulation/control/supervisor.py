"""Detached processes of the local cloud: start, record, probe and stop exactly what we started.

Every part runs in its own session (`setsid`), so it survives the shell that ran `make up` and can
be stopped as a process group. `<state>/pids.json` records, per part, the pid, the process's start
time (so a pid reused by an unrelated process after a reboot is never signalled), the command, the
port and the log file. `down` stops exactly those.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class PartRecord:
    name: str
    pid: int
    create_time: float
    command: list[str]
    port: int | None
    log: str


class PidFile:
    """`<state>/pids.json`: the parts this state dir started, written after each start."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "pids.json"

    def read(self) -> dict[str, PartRecord]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError:
            return {}  # a torn write from a killed `up`: nothing we can trust to signal
        return {name: PartRecord(**rec) for name, rec in data.items()}

    def write(self, parts: dict[str, PartRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: asdict(p) for n, p in parts.items()}, indent=2))
        tmp.replace(self.path)

    def add(self, part: PartRecord) -> None:
        parts = self.read()
        parts[part.name] = part
        self.write(parts)

    def remove(self, name: str) -> None:
        parts = self.read()
        if parts.pop(name, None) is not None:
            self.write(parts)


def spawn(
    name: str,
    command: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int | None = None,
    **popen_kwargs,
) -> tuple[subprocess.Popen, PartRecord]:
    """Start `command` detached (own session, stdin closed), stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        log_file.write(
            f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(command)}\n".encode()
        )
        log_file.flush()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=cwd,
            **popen_kwargs,
        )
    return proc, PartRecord(name, proc.pid, _create_time(proc.pid), command, port, str(log_path))


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def is_alive(part: PartRecord) -> bool:
    """The recorded process still runs (and is the same process, not a reused pid)."""
    try:
        proc = psutil.Process(part.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - part.create_time) < 1.0 or part.create_time == 0.0
    except psutil.Error:
        return False


def stop_part(part: PartRecord, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Signal the part's process group (and any descendant that left it), wait, then SIGKILL.

    Returns True if something was running.
    """
    if not is_alive(part):
        return False
    try:
        family = [psutil.Process(part.pid), *psutil.Process(part.pid).children(recursive=True)]
    except psutil.Error:
        family = []
    _signal_group(part.pid, sig)
    for proc in family[1:]:  # workers that started their own session are not in the group
        _signal(proc, sig)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    if alive:
        _signal_group(part.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    _reap(part.pid)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # spawned with setsid, so pgid == pid
    except (ProcessLookupError, PermissionError):
        pass


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass


def _reap(pid: int) -> None:
    """Collect the exit status when the part is our own child (the test fixture's case)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def process_tree_rss(pids: list[int]) -> int:
    """Resident memory in bytes of the given processes and all their descendants."""
    seen: set[int] = set()
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
    return total


# ------------------------------------------------------------------------------------------------
# Probes


def port_owner(port: int, host: str = "127.0.0.1") -> str | None:
    """None if `port` can be bound on `host`, else a description of who listens on it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            sock.bind((host, port))
            return None
        except OSError:
            pass
    try:
        for conn in psutil.net_connections(kind="inet"):
            listening = conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN
            if listening and conn.pid:
                try:
                    cmd = " ".join(psutil.Process(conn.pid).cmdline())[:120]
                except psutil.Error:
                    cmd = "?"
                return f"pid {conn.pid} ({cmd})"
    except psutil.Error:
        pass
    return "another process (not visible to this user)"


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of GET `url`, or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def http_json(url: str, timeout: float = 1.0, headers: dict[str, str] | None = None) -> dict | None:
    """The JSON body of GET `url` whatever its status, or None if nothing (or no JSON) answers."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except (OSError, ValueError):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def tail(path: Path | str, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
