"""emulation.kinesis.reader.ShardReader: where a consumer (mapping or Firehose) resumes a shard."""

from __future__ import annotations

import json

from emulation.kinesis.checkpoints import CheckpointStore, StreamIdentity
from emulation.kinesis.reader import Page, ShardReader

STREAM = StreamIdentity("arn:aws:kinesis:us-east-1:123456789012:stream/s", 100.0)


class FakeKinesis:
    """Answers GetShardIterator with the arguments it got and GetRecords from a scripted list."""

    def __init__(self, pages: list[Page] | None = None):
        self.asked: list[tuple] = []
        self.pages = list(pages or [])
        self.read_with: list[str] = []

    def iterator(self, stream, shard_id, kind, *, sequence_number=None, timestamp=None):
        self.asked.append((kind, sequence_number, timestamp))
        return f"it-{kind}"

    def get_records(self, iterator, limit=10_000):
        self.read_with.append(iterator)
        return self.pages.pop(0)


def test_a_new_consumer_starts_at_its_starting_position_and_resumes_after_its_commit(tmp_path):
    store = CheckpointStore(tmp_path, "firehose-f")
    kinesis = FakeKinesis([Page([{"SequenceNumber": "7"}], "it-next", 0), Page([], None, 0)])
    shard = ShardReader(kinesis, store, "s", "shardId-0")
    assert shard.open(STREAM) == "it-TRIM_HORIZON" and shard.checkpoint is None
    assert shard.read().records == [{"SequenceNumber": "7"}]
    assert shard.read().records == [] and shard.closed  # the shard was read to its end
    assert kinesis.read_with == ["it-TRIM_HORIZON", "it-next"]  # each read goes on from the last
    shard.commit("7")
    saved = json.loads((tmp_path / "firehose-f" / "shardId-0.json").read_text())
    assert saved["sequence_number"] == "7" and saved["stream_arn"] == STREAM.arn

    again = FakeKinesis()
    reopened = ShardReader(again, CheckpointStore(tmp_path, "firehose-f"), "s", "shardId-0")
    reopened.open(STREAM)
    assert again.asked == [("AFTER_SEQUENCE_NUMBER", "7", None)] and reopened.checkpoint == "7"


def test_a_checkpoint_of_a_recreated_stream_is_forgotten(tmp_path):
    store = CheckpointStore(tmp_path, "s--f")
    first = ShardReader(FakeKinesis(), store, "s", "shardId-0")
    first.open(STREAM)
    first.commit("35")
    kinesis = FakeKinesis()
    recreated = StreamIdentity(STREAM.arn, 200.0)
    shard = ShardReader(kinesis, store, "s", "shardId-0")
    shard.open(recreated)
    assert kinesis.asked == [("TRIM_HORIZON", None, None)] and shard.checkpoint is None
    assert store.load("shardId-0").belongs_to(recreated)


def test_latest_keeps_its_start_time_so_a_restart_skips_nothing(tmp_path):
    store = CheckpointStore(tmp_path, "s--f")
    kinesis = FakeKinesis()
    ShardReader(kinesis, store, "s", "shardId-0", "LATEST").open(STREAM)
    started = store.load("shardId-0").latest_from
    assert kinesis.asked == [("LATEST", None, None)] and started is not None
    ShardReader(kinesis, store, "s", "shardId-0", "LATEST").open(STREAM)
    assert kinesis.asked[-1] == ("AT_TIMESTAMP", None, started)
