"""emulation.redshift.dirs: who can reach a folder, and clean-up of relocated data."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from emulation.config import CloudConfig
from emulation.redshift import dirs as warehouse_dirs
from emulation.redshift import server as warehouse


def _user(uid: int, gid: int) -> pwd.struct_passwd:
    return pwd.struct_passwd(("someone", "x", uid, gid, "", "/", "/bin/sh"))


def test_traversable_needs_search_permission_on_every_ancestor():
    stranger = _user(54321, 54321)
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # / and /tmp are searchable by everyone
    try:
        (base / "state").mkdir()
        base.chmod(0o711)
        assert warehouse_dirs._traversable(base / "state", stranger)
        assert warehouse_dirs._traversable(base / "state" / "not-yet-created", stranger)
        base.chmod(0o700)
        assert not warehouse_dirs._traversable(base / "state", stranger)
        assert warehouse_dirs._traversable(
            base / "state", _user(base.stat().st_uid, 0)
        )  # the owner
    finally:
        shutil.rmtree(base)


def test_orphaned_relocated_folders_are_swept_and_live_ones_kept(tmp_path):
    live_state = tmp_path / "live-state"
    live_state.mkdir()
    (live_state / "cloud.json").write_text("{}")
    orphan, live, legacy = (tmp_path / f"localcloud-{c * 12}" for c in "abc")
    for folder, owner in ((orphan, tmp_path / "gone"), (live, live_state), (legacy, None)):
        (folder / "pgdata").mkdir(parents=True)
        if owner is not None:
            (folder / warehouse_dirs.OWNER_FILE).write_text(str(owner))
    warehouse_dirs._sweep_orphans(tmp_path)
    assert not orphan.exists()
    assert live.exists() and legacy.exists()


# CI runs as root, so it runs there; a developer's unprivileged run cannot exercise this path.
@pytest.mark.skipif(os.geteuid() != 0, reason="relocation only happens when running as root")
def test_a_state_dir_the_postgres_user_cannot_reach_is_relocated_under_tmp(tmp_path):
    state = tmp_path / "deep" / "state"
    state.mkdir(parents=True)
    (tmp_path / "deep").chmod(0o700)
    config = CloudConfig.on_free_ports(state)
    try:
        wp = warehouse.paths(config, create=True)
        assert wp.relocated is not None and str(wp.relocated).startswith("/tmp/localcloud-")
        assert (state / "warehouse" / "pgdata").resolve() == wp.pgdata
        assert (wp.relocated / warehouse_dirs.OWNER_FILE).read_text() == str(state.resolve())
        assert wp.pgdata.stat().st_uid == pwd.getpwnam(warehouse_dirs.PG_SYSTEM_USER).pw_uid
    finally:
        warehouse.destroy(config)
    assert not wp.relocated.exists()
