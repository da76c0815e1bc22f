"""emulation.provision.runner: which provision steps may run side by side."""

from __future__ import annotations

import pytest

from emulation.provision.runner import waves
from emulation.registry import PROVISION_STEPS as STEPS


def test_the_pipeline_steps_run_in_two_waves_core_and_warehouse_first():
    assert waves(STEPS) == [
        ["emulation.provision.core", "emulation.provision.warehouse"],
        ["emulation.provision.api", "emulation.provision.firehose", "emulation.provision.glue"],
    ]


def test_an_unknown_step_waits_for_every_step_listed_before_it():
    assert waves(("p.core", "p.audit", "p.warehouse")) == [["p.core", "p.warehouse"], ["p.audit"]]


def test_every_step_runs_exactly_once():
    flat = [step for wave in waves(STEPS) for step in wave]
    assert sorted(flat) == sorted(STEPS)


def test_a_step_depending_on_a_missing_step_does_not_wait_for_it():
    assert waves(("p.api",)) == [["p.api"]]


@pytest.mark.parametrize("steps", [(), ("p.core",)])
def test_trivial_step_lists(steps):
    assert [s for w in waves(steps) for s in w] == list(steps)


# -- run_steps' scheduler: each step as soon as its own dependencies are done -------------------
def _schedule(steps, run):
    from concurrent.futures import ThreadPoolExecutor

    from emulation.provision.runner import _needs, _run_as_ready

    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        _run_as_ready(steps, _needs(steps), pool, run)


def test_api_runs_while_a_slow_warehouse_step_is_still_running():
    import threading

    api_done = threading.Event()
    order = []

    def run(step):
        short = step.rsplit(".", 1)[-1]
        if short == "warehouse":  # finishes only once api has run: a wave scheduler would hang
            assert api_done.wait(10), "api waited for the warehouse step it does not depend on"
        order.append(short)
        if short == "api":
            api_done.set()

    _schedule(STEPS, run)
    assert order.index("api") < order.index("warehouse")
    assert order.index("core") < order.index("api")
    assert {"firehose", "glue"} == set(order[-2:])  # both need the warehouse step


def test_a_failing_step_raises_and_its_dependents_never_run():
    ran = []

    def run(step):
        short = step.rsplit(".", 1)[-1]
        if short == "core":
            raise RuntimeError("moto said no")
        ran.append(short)

    with pytest.raises(RuntimeError, match="moto said no"):
        _schedule(STEPS, run)
    assert "api" not in ran and "firehose" not in ran and "glue" not in ran


def test_client_cache_builds_one_client_per_identical_call(monkeypatch):
    import boto3

    from emulation.provision.runner import ClientCache

    built = []
    monkeypatch.setattr(boto3, "client", lambda *a, **k: built.append((a, k)) or object())
    cache = ClientCache()
    with cache.installed():
        first = boto3.client("s3", endpoint_url="http://x")
        assert boto3.client("s3", endpoint_url="http://x") is first
        assert boto3.client("s3", endpoint_url="http://y") is not first
    assert len(built) == 2
    assert boto3.client("s3", endpoint_url="http://x") is not first  # uninstalled: boto3's own again
