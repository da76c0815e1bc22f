"""Fault switches: validation, one-shot kills, substring matching inside Kinesis data."""

from __future__ import annotations

import base64
import json

import pytest

from emulation.awslambda.faults import NO_FAULT, FaultSwitchError, FaultSwitches


def kinesis_event(*datas: bytes) -> bytes:
    return json.dumps(
        {"Records": [{"kinesis": {"data": base64.b64encode(d).decode()}} for d in datas]}
    ).encode()


def test_no_switch_means_no_fault():
    assert FaultSwitches(["f"]).plan("f", b"{}") is NO_FAULT


def test_kill_next_is_one_shot():
    faults = FaultSwitches(["f"])
    faults.set("f", kill_next=True)
    assert faults.plan("f", b"{}").crash is True
    assert faults.plan("f", b"{}").crash is False
    assert faults.snapshot() == {}


def test_substring_is_found_in_plain_events_and_in_base64_kinesis_data():
    faults = FaultSwitches(["f"])
    faults.set("f", fail_on_substring="POISON")
    assert faults.plan("f", b'{"x": "POISON"}').fail_message
    assert (
        faults.plan("f", kinesis_event(b"ok", b"a POISON pill")).fail_message
        == "fault switch: event contains 'POISON'"
    )
    assert faults.plan("f", kinesis_event(b"ok", b"fine")).fail_message is None


def test_probability_is_seeded_and_roughly_right():
    faults = FaultSwitches(["f"], seed=7)
    faults.set("f", fail_probability=0.3)
    failures = sum(bool(faults.plan("f", b"{}").fail_message) for _ in range(2000))
    assert 500 <= failures <= 700


def test_switches_merge_and_clear():
    faults = FaultSwitches(["f", "g"])
    faults.set("f", latency_ms=10)
    faults.set("f", fail_probability=0.5)
    faults.set("g", latency_ms=1)
    assert faults.snapshot()["f"] == {
        "fail_probability": 0.5,
        "fail_on_substring": None,
        "latency_ms": 10,
        "kill_next": False,
    }
    faults.clear("g")
    assert set(faults.snapshot()) == {"f"}
    faults.clear()
    assert faults.snapshot() == {}


@pytest.mark.parametrize(
    "switches, message",
    [
        ({"fail_probability": 1.5}, "0..1"),
        ({"fail_probability": True}, "0..1"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": 1.5}, "latency_ms"),
        ({"kill_next": "yes"}, "kill_next"),
        ({"fail_on_substring": ""}, "non-empty"),
        ({"timeout": 3}, "unknown fault switch"),
    ],
)
def test_bad_switches_are_rejected_with_a_clear_message(switches, message):
    with pytest.raises(FaultSwitchError, match=message):
        FaultSwitches(["f"]).set("f", **switches)


def test_unknown_function_names_the_known_ones():
    with pytest.raises(FaultSwitchError, match="no function named 'h'; known functions: f, g"):
        FaultSwitches(["g", "f"]).set("h", latency_ms=1)


def test_http_routes_answer_400_on_bad_bodies():
    faults = FaultSwitches(["f"])
    assert faults._post({}, {}, b"[1]")[0] == 400
    assert faults._post({}, {}, b"not json")[0] == 400
    status, _, body = faults._post({}, {}, b'{"function": "f", "latency_ms": 3}')
    assert status == 200 and body["latency_ms"] == 3
    assert faults._delete({}, {}, b'{"function": "x"}')[0] == 400
