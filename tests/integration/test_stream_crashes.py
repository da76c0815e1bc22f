"""The fault suite: one part of the local cloud killed (`kill -9`) in the middle of a replay, the
cloud recovered the way the README says, and every sink reconciled exactly.

Each case replays its own slice of the sample (its own event-id prefix) with the replay client's
own code, and kills a part when the replay reaches its fourth batch: the runtime (API gateway,
mappings, Firehose), a Lambda worker of the ingest and one of the projector, moto (every AWS API
and its data), the warehouse; and one case runs `make down && make up` instead. Recovery is what
a user does: `python -m emulation up` (what `make up` runs: it restarts only what is down) a
second after the kill, while the replay goes on; a killed worker needs nothing (the runtime starts
another execution environment). The replay is not restarted: the client rides over the outage
(`pipeline.client.api`: a batch waits for an API that answered before, 5xx and resets are retried),
which is what a user running `make e2e` during a crash gets; every event it sends must be accepted.

Exactly: DynamoDB's invoice lines and the warehouse's dedup view hold each event once with its
values; the archive and the warehouse table, logs of the stream, hold each event as many times as
the stream does (a batch re-sent after a lost answer is two records, counted from the stream
itself), so no record is skipped and none is applied twice; the figures equal the source's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import psutil
import pytest

from emulation.config import REPO_ROOT

from .stream_support import (
    FAST_FIREHOSE_SPEC,
    StreamWatch,
    assert_every_sink_exact,
    derived_source,
    events_of,
    record_data,
    replay_events,
    source_lines,
)

pytestmark = pytest.mark.embedded_only(
    reason=("kills the runtime, Lambda workers, moto and the warehouse of a private embedded cloud "
            "and restarts them with `python -m emulation up`")  # fmt: skip
)

KILL_AT_BATCH = 4
BATCH = 100


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    return cloud_factory(resources=FAST_FIREHOSE_SPEC, fresh=True)  # its parts get killed


def emulation_cli(cloud, *args: str) -> subprocess.CompletedProcess:
    """`python -m emulation ...` as a user runs it (make up / make down) in the shell that
    started this cloud (its state folder and ports)."""
    config = cloud.config
    env = {**os.environ, "LOCALCLOUD_STATE_DIR": str(config.state_dir),
           "LOCALCLOUD_AWS_PORT": str(config.aws_port), "LOCALCLOUD_API_PORT": str(config.api_port),
           "LOCALCLOUD_RUNTIME_PORT": str(config.runtime_port),
           "LOCALCLOUD_WAREHOUSE_PORT": str(config.warehouse_port)}  # fmt: skip
    for name in ("LOCALCLOUD_SERVICES", "LOCALCLOUD_WAREHOUSE_DSN", "LOCALCLOUD_DURABLE", "WAREHOUSE_DSN"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "emulation", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, f"emulation {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def kill(pid: int) -> None:
    """SIGKILL, then wait until the process is gone (a zombie counts: its parent reaps it)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} survived SIGKILL")


def part_pid(cloud, part: str) -> int:
    return json.loads((cloud.config.state_dir / "pids.json").read_text())[part]["pid"]


def worker_pid(cloud, function: str) -> int:
    """A live execution environment of `function` (GET /functions on the runtime's control port)."""
    deadline = time.monotonic() + 30
    while True:
        workers = httpx.get(f"{cloud.runtime_url}/functions", timeout=10).json()[function]["workers"]
        if workers:
            return workers[0]
        assert time.monotonic() < deadline, f"no worker of {function} started within 30 s"
        time.sleep(0.1)


def replay_through_a_fault(cloud, tmp_path, name: str, rows: slice,
                           fault: Callable[[], Callable[[], None] | None]) -> dict:
    """Replay the rows; at the fourth batch call `fault()` (the kill), then its recovery (if any)
    one second later in the background while the replay goes on; reconcile every sink."""
    path = derived_source(tmp_path, name, rows)
    expected = source_lines(path)
    prefix = next(iter(expected)).split(":")[0]
    watch = StreamWatch(cloud)
    recovered: list[BaseException | str] = []
    recovery: list[threading.Thread] = []
    batches = 0

    def on_batch(_batch) -> None:
        nonlocal batches
        batches += 1
        if batches != KILL_AT_BATCH:
            return
        recover = fault()

        def run() -> None:
            time.sleep(1.0)
            try:
                if recover is not None:
                    recover()
                recovered.append("ok")
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                recovered.append(exc)

        recovery.append(threading.Thread(target=run, daemon=True))
        recovery[0].start()

    summary = replay_events(cloud, events_of(path), batch_size=BATCH, concurrency=2, on_batch=on_batch)
    recovery[0].join(timeout=300)
    assert recovered == ["ok"], recovered
    assert summary.accepted == summary.sent == len(expected) and summary.failed == 0, summary.render()

    on_stream = Counter()
    for record in watch.new_records():
        try:
            event_id = json.loads(record_data(record))["event_id"]
        except (ValueError, KeyError):
            continue
        if event_id.startswith(prefix + ":"):
            on_stream[event_id] += 1
    counts = assert_every_sink_exact(cloud, expected, copies=on_stream, timeout=240)
    return {"summary": summary, "stream": on_stream, "counts": counts}


def test_runtime_killed_mid_replay(cloud, tmp_path):
    def fault():
        kill(part_pid(cloud, "runtime"))
        return lambda: emulation_cli(cloud, "up")

    result = replay_through_a_fault(cloud, tmp_path, "runtime", slice(0, 800), fault)
    assert result["summary"].retried > 0  # the outage happened and was ridden over


def test_lambda_workers_killed_mid_replay(cloud, tmp_path):
    def fault():
        kill(worker_pid(cloud, "sales-ingest"))  # on the request path: the client sees a 5xx
        kill(worker_pid(cloud, "sales-projector"))  # a consumer: the mapping retries the batch
        return None  # nothing to do: the runtime starts new execution environments

    replay_through_a_fault(cloud, tmp_path, "workers", slice(800, 1600), fault)


def test_moto_killed_mid_replay(cloud, tmp_path):
    def fault():
        kill(part_pid(cloud, "moto"))
        return lambda: emulation_cli(cloud, "up")

    result = replay_through_a_fault(cloud, tmp_path, "moto", slice(1600, 2400), fault)
    assert result["summary"].retried > 0


def test_warehouse_killed_mid_replay(cloud, tmp_path):
    def fault():
        kill(part_pid(cloud, "warehouse"))
        return lambda: emulation_cli(cloud, "up")

    replay_through_a_fault(cloud, tmp_path, "warehouse", slice(2400, 3200), fault)


def test_make_down_and_up_mid_replay(cloud, tmp_path):
    def fault():
        emulation_cli(cloud, "down")
        return lambda: emulation_cli(cloud, "up")

    result = replay_through_a_fault(cloud, tmp_path, "downup", slice(3200, None), fault)
    assert result["summary"].retried > 0
