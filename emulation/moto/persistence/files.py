"""The files moto's state lives in: append-only logs, replaced snapshots, a background fsync.

Durability rule (docs/internals.md, "What survives a crash"): every acknowledged mutation is handed
to the operating system with `write()` before its response leaves, so a crash of the moto process
(`kill -9`) loses nothing acknowledged; `fdatasync` runs in the background every
`LOCALCLOUD_FSYNC_S` seconds (default 1), so a crash of the *machine* can lose what was written in
the last interval.

- `AppendLog`: records appended with one `os.write` per call (a call may hold many records), each
  framed as `<4-byte little-endian length><payload>`; `read_frames` stops at a torn tail (a frame
  cut by a crash mid-write, which was never acknowledged) and says how many bytes it dropped.
- `write_snapshot` / `read_snapshot`: a whole file replaced atomically (temporary file, rename);
  the version it replaces is kept as `<name>.prev`, read when the current one is unreadable (a
  machine crash before the background fsync reached it).
- `Flusher`: the background fsync of every file written since its last round.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("localcloud.persistence")

FRAME = struct.Struct("<I")
FSYNC_INTERVAL_S = float(os.environ.get("LOCALCLOUD_FSYNC_S", "1.0"))


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload)) + payload


class Flusher:
    """fdatasync, in a background thread, the files written since the last round."""

    def __init__(self, interval_s: float = FSYNC_INTERVAL_S):
        self.interval_s = interval_s
        self._dirty_logs: set[AppendLog] = set()
        self._dirty_paths: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="persistence-fsync", daemon=True)
        self.rounds = 0

    def start(self) -> None:
        self._thread.start()

    def log_written(self, appended: AppendLog) -> None:
        with self._lock:
            self._dirty_logs.add(appended)

    def path_written(self, path: Path) -> None:
        with self._lock:
            self._dirty_paths.add(path)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            logs, self._dirty_logs = self._dirty_logs, set()
            paths, self._dirty_paths = self._dirty_paths, set()
        folders = set()
        for appended in logs:
            appended.sync()
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except (
                FileNotFoundError
            ):  # replaced again or removed meanwhile: its successor is queued
                continue
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            folders.add(path.parent)
        for appended in logs:
            folders.add(appended.path.parent)
        for folder in folders:  # a new or renamed file is durable once its folder entry is
            try:
                fd = os.open(folder, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.rounds += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.flush()


class AppendLog:
    """One append-only file of framed records, open for the life of the process."""

    def __init__(self, path: Path, flusher: Flusher):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._flusher = flusher
        self._lock = threading.Lock()

    def append(self, payloads: list[bytes]) -> None:
        """Write the framed payloads with one `write` (callers hold the lock that orders them)."""
        if not payloads:
            return
        data = b"".join(FRAME.pack(len(p)) + p for p in payloads)
        with self._lock:
            view = memoryview(data)
            while view:  # a regular file takes it all at once; a signal or a full disk may not
                written = os.write(self._fd, view)
                view = view[written:]
        self._flusher.log_written(self)

    def sync(self) -> None:
        """fdatasync without holding the lock: appends go on meanwhile (a disk's flush can take
        tens of milliseconds). A descriptor closed meanwhile was synced by `close()`."""
        fd = self._fd
        if fd >= 0:
            try:
                os.fdatasync(fd)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


class OpenLogs:
    """A service's append logs under `<root>/<service>`, each opened once and kept open."""

    def __init__(self, root: Path, service: str, flusher: Flusher):
        self.dir = Path(root) / service
        self.flusher = flusher
        self._logs: dict[Path, AppendLog] = {}
        self._lock = threading.Lock()

    def _open(self, path: Path) -> AppendLog:
        with self._lock:
            found = self._logs.get(path)
            if found is None:
                found = self._logs[path] = AppendLog(path, self.flusher)
            return found

    def _forget(self, path: Path) -> None:
        """Close the log at `path` (if open); the caller then rewrites or removes the file."""
        with self._lock:
            old = self._logs.pop(path, None)
        if old is not None:
            old.close()

    def _remove_logs_except(self, live: set[Path]) -> None:
        """Remove the `*.log` files of resources that no longer exist."""
        if self.dir.exists():
            for path in self.dir.glob("*.log"):
                if path not in live:
                    self._forget(path)
                    path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            logs, self._logs = list(self._logs.values()), {}
        for found in logs:
            found.close()


def read_frames(path: Path) -> tuple[list[bytes], int]:
    """Every complete frame of the file, and the number of bytes of a torn tail (0 if none)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    return split_frames(data)


def split_frames(data: bytes) -> tuple[list[bytes], int]:
    frames, offset, size = [], 0, len(data)
    view = memoryview(data)
    while offset + 4 <= size:
        (length,) = FRAME.unpack_from(data, offset)
        end = offset + 4 + length
        if end > size:
            break
        frames.append(bytes(view[offset + 4 : end]))
        offset = end
    return frames, size - offset


def rewrite_frames(path: Path, payloads: Iterator[bytes] | list[bytes], flusher: Flusher) -> None:
    """Replace the file with exactly these records (compaction), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".compact")
    with open(tmp, "wb") as out:
        for payload in payloads:
            out.write(FRAME.pack(len(payload)) + payload)
    os.replace(tmp, path)
    flusher.path_written(path)


def write_snapshot(path: Path, data: bytes, flusher: Flusher) -> None:
    """Replace `path` with `data` atomically, keeping the version it replaces as `<name>.prev`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    if path.exists():
        os.replace(path, path.with_name(path.name + ".prev"))
    os.replace(tmp, path)
    flusher.path_written(path)


def read_snapshot(path: Path) -> list[tuple[Path, bytes]]:
    """The snapshot's candidates, newest first: the current file, then the one it replaced (a
    crash between the two renames of `write_snapshot` leaves only `.prev`, which is then current:
    the newer one was never acknowledged)."""
    path = Path(path)
    found = []
    for candidate in (path, path.with_name(path.name + ".prev")):
        try:
            found.append((candidate, candidate.read_bytes()))
        except FileNotFoundError:
            continue
    return found


def remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
