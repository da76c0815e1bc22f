"""Where the embedded warehouse keeps its data, socket and binaries, and who may reach them.

PostgreSQL refuses to run as root. As root we run it as the unprivileged system user `pgserver`
(the user pgserver itself creates; created with `useradd --system` when missing). That user must be
able to reach the data directory and the binaries, which a repository under `/root` (mode 0700)
does not allow. Rather than loosening permissions on parent folders (pgserver chmods them), we
relocate: when a path is not traversable by that user (or a socket path would exceed the 107-byte
limit), the data and socket live in `/tmp/localcloud-<sha256(state dir)[:12]>/{pgdata,run}` (a
symlink `<state>/warehouse/pgdata` points there; a `state_dir` file names the owner, so folders
of state dirs that no longer exist are swept at the next start) and the binaries are copied once to
`/tmp/localcloud-pgserver-<version>-<hash>/`. A reboot that clears /tmp loses relocated data.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from emulation.config import CloudConfig

PG_SYSTEM_USER = "pgserver"
PG_SUPERUSER = "postgres"
SOCKET_PATH_MAX = 107  # sun_path limit on Linux, including the ".s.PGSQL.<port>" file name


class WarehouseError(RuntimeError):
    """The embedded PostgreSQL could not be prepared or started; the message says why and how to fix."""


def pginstall_dir() -> Path:
    """pgserver's PostgreSQL tree, found without importing pgserver (its import has side effects)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError("pgserver is not installed: `make install` (or set WAREHOUSE_DSN)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class WarehousePaths:
    pgdata: Path
    socket_dir: Path
    bin_dir: Path
    relocated: Path | None
    """The /tmp folder holding data and socket when the state dir is not reachable, else None."""


def _traversable(path: Path, user: pwd.struct_passwd) -> bool:
    """`user` can reach `path` (search permission on every ancestor and on `path` itself)."""
    groups = {user.pw_gid, *(g for g in os.getgrouplist(user.pw_name, user.pw_gid))}
    for folder in [path, *path.parents]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            continue  # will be created by us (and chowned)
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _system_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: None (ourselves) unless we are root."""
    if not _as_root():
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise WarehouseError(
            f"PostgreSQL cannot run as root and creating the system user {PG_SYSTEM_USER!r} failed: "
            f"{detail.strip()}. Create it (useradd --system {PG_SYSTEM_USER}) or run as a normal user, "
            "or set WAREHOUSE_DSN to an existing PostgreSQL."
        ) from exc
    return pwd.getpwnam(PG_SYSTEM_USER)


def _relocation_dir(config: CloudConfig) -> Path:
    key = hashlib.sha256(str(Path(config.state_dir).resolve()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"localcloud-{key}"


def _bin_dir(user: pwd.struct_passwd | None) -> Path:
    source = pginstall_dir()
    if user is None or _traversable(source / "bin", user):
        return source / "bin"
    from importlib.metadata import version

    key = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    target = Path("/tmp") / f"localcloud-pgserver-{version('pgserver')}-{key}"
    if not (target / "bin" / "postgres").exists():
        staging = target.with_name(target.name + f".{os.getpid()}")
        for part in ("bin", "lib", "share"):
            shutil.copytree(source / part, staging / part, symlinks=True)
        _chmod_tree(staging, 0o755, 0o644)
        try:
            staging.rename(target)
        except OSError:  # another `up` won the race
            shutil.rmtree(staging, ignore_errors=True)
    return target / "bin"


def _chmod_tree(root: Path, dir_mode: int, file_mode: int) -> None:
    root.chmod(dir_mode)
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            Path(folder, d).chmod(dir_mode)
        for f in files:
            p = Path(folder, f)
            if not p.is_symlink():
                executable = p.stat().st_mode & stat.S_IXUSR
                p.chmod(dir_mode if executable else file_mode)


def paths(config: CloudConfig, *, create: bool = False) -> WarehousePaths:
    user = _system_user() if create else _existing_user()
    home = Path(config.state_dir) / "warehouse"
    link = home / "pgdata"
    socket_ok = len(str(home)) + len(f"/.s.PGSQL.{config.warehouse_port}") <= SOCKET_PATH_MAX
    reachable = user is None or _traversable(home, user)
    if link.is_symlink() or not (reachable and socket_ok):
        relocated = _relocation_dir(config)
        pgdata, socket_dir = relocated / "pgdata", relocated / "run"
    else:
        relocated = None
        pgdata, socket_dir = link, home
    bin_dir = _bin_dir(user) if create else pginstall_dir() / "bin"
    if create:
        _prepare_dirs(home, pgdata, socket_dir, relocated, link, user)
    return WarehousePaths(pgdata, socket_dir, bin_dir, relocated)


def _existing_user() -> pwd.struct_passwd | None:
    if not _as_root():
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        return None


OWNER_FILE = "state_dir"  # in a relocated folder: the state dir it belongs to


def _sweep_orphans(parent: Path) -> None:
    """Delete relocated folders whose state dir is gone (a temporary cloud never `destroy`ed), so
    /tmp does not fill up with data directories; a folder with a live postmaster is kept."""
    for folder in parent.glob("localcloud-????????????"):
        try:
            owner = Path((folder / OWNER_FILE).read_text())
            if folder.stat().st_uid != os.geteuid() or (owner / "cloud.json").exists():
                continue
            if _live_postmaster(folder / "pgdata") is None:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # no owner file (an older layout) or a race with its owner: leave it


def _prepare_dirs(home, pgdata, socket_dir, relocated, link, user) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if relocated is not None:
        if relocated.is_symlink() or (
            relocated.exists() and relocated.stat().st_uid != os.geteuid()
        ):
            raise WarehouseError(f"{relocated} exists but is not ours: remove it and retry")
        _sweep_orphans(relocated.parent)
        relocated.mkdir(mode=0o755, exist_ok=True)
        (relocated / OWNER_FILE).write_text(str(home.parent.resolve()))
        if not link.is_symlink():
            if link.exists():
                raise WarehouseError(
                    f"{link} is a real folder but PostgreSQL's user cannot reach it; move it away"
                )
            link.symlink_to(pgdata)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    pgdata.chmod(0o700)  # PostgreSQL refuses a data dir readable by others
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        for folder in {pgdata, socket_dir}:
            os.chown(folder, user.pw_uid, user.pw_gid)
    socket_dir.chmod(0o700)


def _live_postmaster(pgdata: Path) -> int | None:
    import psutil

    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        proc = psutil.Process(pid)
        return pid if proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _run_as(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
