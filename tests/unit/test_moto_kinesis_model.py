"""moto 5.2.1's Kinesis shard model, stock vs patched (emulation.moto.patches.kinesis), in-process.

Deterministic proofs of the two bugs the patch fixes: the lost record under concurrent producers
(forced interleaving, no timing luck) and the per-put / per-read work growing with the shard's size
(operations counted, not timed). The server-level tests are in tests/integration.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict

import pytest
from moto.kinesis.models import KinesisBackend, Shard

from emulation.moto.patches import kinesis as patch


@pytest.fixture(params=["stock", "patched"])
def mode(request):
    was_applied = patch._APPLIED
    if request.param == "patched":
        patch.apply(None)
    else:
        patch.revert()
    yield request.param
    patch.apply(None) if was_applied else patch.revert()


class CountingRecords(OrderedDict):
    """A shard's record dict that counts how much of itself each operation walks."""

    def __init__(self):
        super().__init__()
        self.keys_copies = 0
        self.items_walked = 0

    def keys(self):
        self.keys_copies += 1
        return super().keys()

    def items(self):
        for item in super().items():
            self.items_walked += 1
            yield item


class RendezvousRecords(OrderedDict):
    """Makes two producers read the shard's last sequence number at the same moment, if they can.

    Both the stock code (`keys()`) and the patched code (`reversed()`) read the last number through
    a hook that waits (bounded) for the other producer to reach the same point: without a lock both
    get there and then both write; with the patch's lock the second cannot, the wait times out and
    the writes are serialized.
    """

    def __init__(self):
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=0.5)

    def _meet(self):
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            pass

    def keys(self):
        snapshot = list(super().keys())  # what this producer read, before the other one writes
        self._meet()
        return snapshot

    def __reversed__(self):
        snapshot = list(super().__reversed__())
        self._meet()
        return iter(snapshot)


def _data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_two_concurrent_producers_lose_a_record_only_on_stock_moto(mode):
    shard = Shard(0, 0, 2**128)
    shard.records = RendezvousRecords()
    shard.put_record("p", _data("first"), None)  # the stock code only reads keys() once non-empty
    acked = []
    threads = [
        threading.Thread(
            target=lambda i=i: acked.append(shard.put_record("p", _data(f"r{i}"), None))
        )
        for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    stored = sorted(base64.b64decode(r.data).decode() for r in shard.records.values())
    if mode == "stock":
        assert acked[0] == acked[1], (
            "both producers were acknowledged with the same sequence number"
        )
        assert len(stored) == 2, f"one acknowledged record was overwritten: {stored}"
    else:
        assert sorted(acked) == ["2", "3"]
        assert stored == ["first", "r0", "r1"]


def test_put_record_work_grows_with_the_shard_only_on_stock_moto(mode):
    shard = Shard(0, 0, 2**128)
    shard.records = CountingRecords()
    for i in range(1000):
        shard.put_record("p", _data(str(i)), None)
    assert list(shard.records) == list(range(1, 1001))
    if mode == "stock":
        assert shard.records.keys_copies == 999  # one full key list per put: quadratic filling
    else:
        assert shard.records.keys_copies == 0


def test_get_records_walks_the_shard_from_the_start_only_on_stock_moto(mode):
    shard = Shard(0, 0, 2**128)
    shard.records = CountingRecords()
    for i in range(2000):
        shard.put_record("p", _data(str(i)), None)
    shard.records.items_walked = 0

    position, seen = "0", []
    while True:  # a consumer reading the whole shard in batches of 100
        records, last, _behind = shard.get_records(position, 100)
        if not records:
            break
        seen += [r.sequence_number for r in records]
        position = str(last)
    assert seen == list(range(1, 2001))
    if mode == "stock":
        # batch k walks 100 * k records, the final empty read all 2,000: ~ n^2 / (2 * batch) in all
        assert shard.records.items_walked == 100 * sum(range(1, 21)) + 2000
    else:
        assert shard.records.items_walked == 0


def test_patched_reads_honour_limit_position_and_latest(mode):
    shard = Shard(0, 0, 2**128)
    for i in range(10):
        shard.put_record("p", _data(str(i)), None)
    records, last, behind = shard.get_records("3", 4)
    assert [r.sequence_number for r in records] == [4, 5, 6, 7] and last == 7 and behind >= 0
    assert shard.get_records("10", 5) == ([], 10, 0)  # a LATEST iterator on a quiet shard
    records, last, _ = shard.get_records("8", None)
    assert [r.sequence_number for r in records] == [9, 10] and last == 10
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (1, 10)


def test_sequence_number_at_timestamp_agrees_with_stock_moto(mode):
    shard = Shard(0, 0, 2**128)
    stamps = []
    for i in range(6):
        shard.put_record("p", _data(str(i)), None)
        stamps.append(shard.records[i + 1].created_at)
        time.sleep(0.002)
    assert shard.get_sequence_number_at(stamps[0] - 1) == 0
    assert shard.get_sequence_number_at(stamps[0]) == 0
    assert shard.get_sequence_number_at(stamps[3]) == 3  # last record strictly before the timestamp
    assert shard.get_sequence_number_at(stamps[5] + 1) == 6


def test_put_records_call_is_contiguous_per_shard_when_patched():
    patch.apply(None)
    backend = KinesisBackend("us-east-1", "123456789012")
    backend.create_stream("s", 1)
    batch = [{"Data": _data(f"{n}"), "PartitionKey": "p"} for n in range(200)]
    results = []

    def producer():
        results.append(backend.put_records(None, "s", batch)["Records"])

    threads = [threading.Thread(target=producer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for records in results:
        seqs = [int(r["SequenceNumber"]) for r in records]
        assert seqs == list(range(seqs[0], seqs[0] + 200))  # no other call's records in between
    all_seqs = sorted(int(r["SequenceNumber"]) for records in results for r in records)
    assert all_seqs == list(range(1, 801))
