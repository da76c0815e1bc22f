"""emulation.awslambda.logs with a fake CloudWatch Logs client (tests/integration/test_aws_clients.py
reads the real one through the AWS CLI)."""

from __future__ import annotations

import os
import threading

import pytest

from emulation.awslambda.logs import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    LogShipper,
    WorkerLog,
    _batches,
)


class Refused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeLogs:
    def __init__(self):
        self.groups, self.streams, self.events = set(), set(), []
        self.fail_next: list[Exception] = []
        self.lock = threading.Lock()

    def create_log_group(self, logGroupName):
        if logGroupName in self.groups:
            raise Refused("ResourceAlreadyExistsException")
        self.groups.add(logGroupName)

    def create_log_stream(self, logGroupName, logStreamName):
        self.streams.add((logGroupName, logStreamName))

    def put_log_events(self, logGroupName, logStreamName, logEvents):
        with self.lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            assert (logGroupName, logStreamName) in self.streams
            self.events += [(logGroupName, logStreamName, e["message"]) for e in logEvents]


@pytest.fixture
def shipper():
    fake = FakeLogs()
    s = LogShipper(lambda: fake, flush_s=3600)  # flushed by hand
    yield s, fake
    s.close(timeout=1)


def test_lines_go_to_the_file_and_to_the_environments_stream_whole(tmp_path, shipper):
    s, fake = shipper
    path = tmp_path / "fn.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    out = WorkerLog("fn", "2026/12/05/[$LATEST]abc", fd, s)
    os.write(out.write_fd, b"START one\nhalf a li")
    out.pump()
    os.write(out.write_fd, b"ne\nEND\n")
    out.pump()
    os.write(out.write_fd, b"no newline at exit")
    out.close()
    s.flush()
    lines = ["START one\n", "half a line\n", "END\n", "no newline at exit"]
    assert [m for _, _, m in fake.events] == lines
    assert {(g, st) for g, st, _ in fake.events} == {("/aws/lambda/fn", "2026/12/05/[$LATEST]abc")}
    assert path.read_text() == "".join(lines)
    os.close(fd)


def test_lines_wait_while_moto_is_away_and_are_sent_once_in_order(shipper):
    s, fake = shipper
    fake.fail_next = [ConnectionError("moto is restarting")]
    s.add("fn", "st", [(1, "a\n"), (2, "b\n")])
    s.flush()
    assert fake.events == [] and s.stats["failures"] == 1
    s.add("fn", "st", [(3, "c\n")])
    s.flush()
    assert [m for _, _, m in fake.events] == ["a\n", "b\n", "c\n"]


def test_a_moto_that_lost_the_group_gets_it_created_again(shipper):
    s, fake = shipper
    s.add("fn", "st", [(1, "a\n")])
    s.flush()
    fake.groups.clear(), fake.streams.clear()
    fake.fail_next = [Refused("ResourceNotFoundException")]
    s.add("fn", "st", [(2, "b\n")])
    s.flush()
    s.flush()
    assert [m for _, _, m in fake.events] == ["a\n", "b\n"]


def test_lines_cloudwatch_refuses_are_dropped_and_counted_not_retried_forever(shipper):
    s, fake = shipper
    fake.fail_next = [Refused("InvalidParameterException")]
    s.add("fn", "st", [(1, "a\n")])
    s.flush()
    s.flush()
    assert fake.events == [] and s.stats["events_dropped"] == 1


def test_batches_respect_put_log_events_limits():
    events = [(i, "x" * 1000) for i in range(3000)]
    batches = list(_batches(events))
    assert sum(len(b) for b in batches) == 3000 and [e for b in batches for e in b] == events
    assert all(sum(len(m) + EVENT_OVERHEAD for _, m in b) <= MAX_BATCH_BYTES for b in batches)
    assert len(list(_batches([(i, "") for i in range(25_000)]))) == 3  # 10,000 events a call
