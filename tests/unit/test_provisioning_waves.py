"""emulation.provisioning: which provision steps may run side by side."""

from __future__ import annotations

import pytest

from emulation.provision import STEPS
from emulation.provisioning import waves


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
