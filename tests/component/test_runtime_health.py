"""emulation.control.runtime: `/health` before and after start, and its `Prefer: wait=N` long poll."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from emulation.config import CloudConfig
from emulation.control.runtime import Runtime, _preferred_wait
from emulation.control.supervisor import http_json, http_status


@pytest.fixture()
def runtime(tmp_path):
    runtime = Runtime(CloudConfig.on_free_ports(tmp_path), only=set())  # no service: control only
    runtime.prepare()
    yield runtime
    runtime.stop()


def test_health_is_503_until_started_then_200(runtime):
    url = runtime.ctx.config.runtime_url + "/health"
    assert http_status(url) == 503
    assert http_json(url) == {"ready": False, "provisioned": False, "services": []}
    runtime.start()
    assert http_status(url) == 200


def test_prefer_wait_answers_as_soon_as_the_runtime_is_ready(runtime):
    url = runtime.ctx.config.runtime_url + "/health"
    answers: queue.Queue[dict] = queue.Queue()
    threading.Thread(
        target=lambda: answers.put(http_json(url, timeout=30, headers={"Prefer": "wait=10"})),
        daemon=True,
    ).start()
    with pytest.raises(queue.Empty):  # held while not ready (a slow machine only holds it longer)
        answers.get(timeout=0.3)
    runtime.start()
    # answered on readiness: a poll held for its full 10 s would leave the queue empty here
    health = answers.get(timeout=9.0)
    assert health["ready"] is True


def test_prefer_wait_gives_up_after_its_seconds(runtime):
    began = time.monotonic()
    health = http_json(runtime.ctx.config.runtime_url + "/health", headers={"Prefer": "wait=0.3"})
    assert health["ready"] is False and time.monotonic() - began >= 0.25


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({}, 0.0), ({"Prefer": "wait=2"}, 2.0), ({"prefer": "respond-async, wait=1.5"}, 1.5),
     ({"Prefer": "wait=600"}, 10.0), ({"Prefer": "wait=soon"}, 0.0), ({"Prefer": "wait=-3"}, 0.0),
     ({"Prefer": "wait=nan"}, 0.0)],
)  # fmt: skip
def test_preferred_wait_is_parsed_and_capped(headers, seconds):
    assert _preferred_wait(headers) == seconds
