"""`make up` on a running cloud restarts a part that runs but does not answer only after a grace
period: a moto busy restoring a full-dataset state (~10 s here) is slow, not hung, and restarting
it would reload its state again. The clock is faked; the parts are this test's own process."""

from __future__ import annotations

import os

import psutil
import pytest

from emulation.config import CloudConfig
from emulation.control import cloud as cloud_module
from emulation.control.cloud import PARTS, UNANSWERED_GRACE_S, LocalCloud
from emulation.control.supervisor import PartRecord, PidFile


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def running_cloud(tmp_path, monkeypatch):
    """Every part recorded as alive (this process), answering unless a test says otherwise."""
    me = psutil.Process(os.getpid())
    PidFile(tmp_path).write({
        part: PartRecord(part, me.pid, me.create_time(), ["python"], None, str(tmp_path / part))
        for part in PARTS
    })  # fmt: skip
    clock = FakeClock()
    monkeypatch.setattr(cloud_module.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(cloud_module.time, "sleep", clock.sleep)
    cloud = LocalCloud(CloudConfig(state_dir=tmp_path), out=lambda line: None)
    stopped: list[str] = []
    monkeypatch.setattr(cloud, "_stop_record", lambda record: stopped.append(record.name) or True)
    return cloud, clock, stopped


def answers_after(clock: FakeClock, part: str, seconds: float | None):
    """`part` answers once `seconds` of fake time have passed (never if None); others at once."""
    since = clock.now
    return lambda name: name != part or (seconds is not None and clock.now - since >= seconds)


def test_a_slow_part_that_answers_within_the_grace_is_kept(running_cloud, monkeypatch):
    cloud, clock, stopped = running_cloud
    monkeypatch.setattr(cloud, "_answers", answers_after(clock, "moto", 12.0))
    assert cloud._parts_to_start() == ()
    assert stopped == []
    assert "moto" in cloud.pids.read()


def test_a_part_that_never_answers_is_restarted_after_the_grace(running_cloud, monkeypatch):
    cloud, clock, stopped = running_cloud
    began = clock.now
    monkeypatch.setattr(cloud, "_answers", answers_after(clock, "runtime", None))
    assert cloud._parts_to_start() == ("runtime",)
    assert stopped == ["runtime"]
    assert "runtime" not in cloud.pids.read()
    assert UNANSWERED_GRACE_S <= clock.now - began < UNANSWERED_GRACE_S + 1
