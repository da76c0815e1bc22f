"""moto's durable state (emulation.moto.persistence) on a real moto server process, alone.

Each test starts `python -m emulation.moto.server --state-dir DIR` on a free port, writes through
boto3, stops it (SIGKILL: a crash; SIGTERM: `make down`), possibly damages the files the way a
crash inside a write would, starts it again on the same folder and reads everything back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from emulation.config import REPO_ROOT, free_ports

pytestmark = pytest.mark.embedded_only(
    reason="starts, kills and restarts its own patched moto server process on a private folder"
)


class Moto:
    def __init__(self, state: Path):
        self.state, self.port = state, free_ports(1)[0]
        self.proc: subprocess.Popen | None = None
        self.log = state.parent / f"moto-{self.port}.log"

    def start(self, expect_ready: bool = True) -> dict:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "emulation.moto.server", "--port", str(self.port),
                 "--state-dir", str(self.state), "--no-warm"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if not expect_ready:
            self.proc.wait(timeout=60)
            return {}
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/_localcloud/persistence", timeout=2) as r:
                    return json.loads(r.read())
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                assert time.monotonic() < deadline, "moto did not start"
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    def stop(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=30)


@pytest.fixture
def moto(tmp_path):
    server = Moto(tmp_path / "moto")
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop(signal.SIGKILL)


def fill(moto: Moto) -> dict:
    """One of each kind of state; returns what reading it back must give."""
    kinesis, dynamodb, s3, sqs = (moto.client(s) for s in ("kinesis", "dynamodb", "s3", "sqs"))
    kinesis.create_stream(StreamName="s", ShardCount=1)
    put = kinesis.put_records(StreamName="s", Records=[
        {"Data": f"r{i}".encode(), "PartitionKey": "tab\tkey" if i == 3 else f"k{i}"} for i in range(20)])
    dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    for i in range(30):
        dynamodb.put_item(TableName="t", Item={"id": {"S": f"i{i}"}, "n": {"N": str(i)},
                                               "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}]}}}})
    dynamodb.delete_item(TableName="t", Key={"id": {"S": "i0"}})
    s3.create_bucket(Bucket="durable-bucket")
    for i in range(5):
        s3.put_object(Bucket="durable-bucket", Key=f"k/{i}", Body=f"body {i}".encode())
    s3.delete_objects(Bucket="durable-bucket", Delete={"Objects": [{"Key": "k/0"}]})
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    return {"last_sequence": put["Records"][-1]["SequenceNumber"], "items": 29, "objects": 4}


def read_back(moto: Moto) -> dict:
    kinesis, dynamodb, s3, sqs = (moto.client(s) for s in ("kinesis", "dynamodb", "s3", "sqs"))
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    items = dynamodb.scan(TableName="t")["Items"]
    objects = s3.list_objects_v2(Bucket="durable-bucket").get("Contents", [])
    queue = sqs.get_queue_url(QueueName="q")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return {"records": [(r["SequenceNumber"], r["PartitionKey"], r["Data"]) for r in records],
            "items": sorted(json.dumps(i, sort_keys=True) for i in items),
            "objects": {o["Key"]: s3.get_object(Bucket="durable-bucket", Key=o["Key"])["Body"].read() for o in objects},
            "messages": [m["Body"] for m in messages]}  # fmt: skip


def test_a_clean_stop_and_a_crash_both_keep_everything(moto):
    expected = fill(moto)
    before = read_back(moto)
    assert len(before["records"]) == 20 and before["records"][3][1] == "tab\tkey"
    assert len(before["items"]) == expected["items"] and len(before["objects"]) == expected["objects"]

    moto.stop(signal.SIGTERM)  # make down
    report = moto.start()["restore"]
    assert report["counts"] == {"Kinesis records": 20, "DynamoDB items": 29, "S3 objects": 4}
    assert report["problems"] == []
    assert read_back(moto) == before

    moto.stop(signal.SIGKILL)  # a crash
    moto.start()
    assert read_back(moto) == before
    put = moto.client("kinesis").put_record(StreamName="s", Data=b"next", PartitionKey="k")
    assert int(put["SequenceNumber"]) == int(expected["last_sequence"]) + 1


def test_a_write_torn_by_a_crash_is_dropped_and_reported(moto):
    fill(moto)
    before = read_back(moto)
    moto.stop(signal.SIGKILL)
    logs = [*moto.state.glob("kinesis/*/*.log"), *moto.state.glob("dynamodb/*.log"),
            *moto.state.glob("s3/*.log")]  # fmt: skip
    assert len(logs) == 3
    for log in logs:  # what a process killed inside write() leaves: a frame cut short
        with open(log, "ab") as f:
            f.write((500).to_bytes(4, "little") + b"partial")
    report = moto.start()["restore"]
    assert len(report["problems"]) == 3, report
    assert all("torn" in p and "never acknowledged" in p for p in report["problems"])
    assert "torn" in report["summary"]
    assert read_back(moto) == before
    moto.stop(signal.SIGKILL)
    assert moto.start()["restore"]["problems"] == []  # the torn tails were cut off for good


def test_a_damaged_snapshot_falls_back_to_the_one_before_and_says_so(moto):
    sqs = moto.client("sqs")
    sqs.create_queue(QueueName="first")
    sqs.create_queue(QueueName="second")
    moto.stop(signal.SIGKILL)
    snapshot = moto.state / "snapshots" / "sqs.pickle"
    snapshot.write_bytes(snapshot.read_bytes()[:40])  # a machine crash before its fsync
    report = moto.start()["restore"]
    assert any("sqs.pickle is unreadable" in p for p in report["problems"]), report
    assert any("before the last one" in p for p in report["problems"]), report
    urls = moto.client("sqs").list_queues().get("QueueUrls", [])
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["first"]  # the last change is what was lost


def test_a_log_rewritten_many_times_is_compacted_at_restore(moto):
    dynamodb = moto.client("dynamodb")
    dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    for i in range(1500):
        dynamodb.put_item(TableName="t", Item={"id": {"S": f"k{i % 3}"}, "v": {"N": str(i)}})
    log = next(moto.state.glob("dynamodb/*.log"))
    size = log.stat().st_size
    moto.stop(signal.SIGKILL)
    moto.start()
    assert log.stat().st_size < size / 100
    items = {i["id"]["S"]: i["v"]["N"] for i in moto.client("dynamodb").scan(TableName="t")["Items"]}
    assert items == {"k0": "1497", "k1": "1498", "k2": "1499"}  # the last write of each key


def test_state_written_by_another_moto_is_refused_clearly(moto):
    moto.stop(signal.SIGTERM)
    (moto.state / "format.json").write_text(json.dumps({"format": 1, "moto": "0.0.1"}))
    moto.start(expect_ready=False)
    assert moto.proc.returncode == 2
    assert "was written by" in moto.log.read_text() and "0.0.1" in moto.log.read_text()
