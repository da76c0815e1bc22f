"""emulation.moto.persistence: restored DynamoDB items built on first read (LazyItems), the record
log's encoding, and the framing every log uses (torn tails)."""

from __future__ import annotations

import datetime
import pickle
import threading
import time

from moto.dynamodb.models.dynamo_type import DynamoType, Item

from emulation.moto.persistence.dynamodb import LazyItems, _Raw, plain
from emulation.moto.persistence.files import frame, split_frames
from emulation.moto.persistence.kinesis import decode, encode


def raw(key: str, **attrs) -> _Raw:
    item = {"id": {"S": key}, **attrs}
    return _Raw(DynamoType({"S": key}), None, pickle.dumps(item))


def test_values_are_built_on_first_read_by_every_read_path():
    items = LazyItems()
    for key in ("a", "b", "c"):
        dict.__setitem__(items, DynamoType({"S": key}), raw(key, n={"N": "1"}))
    first = items[DynamoType({"S": "a"})]
    assert isinstance(first, Item) and first.attrs["n"] == DynamoType({"N": "1"})
    assert items[DynamoType({"S": "a"})] is first  # built once, then kept
    assert isinstance(items.get(DynamoType({"S": "b"})), Item)
    assert all(isinstance(v, Item) for v in items.values())
    assert isinstance(items.pop(DynamoType({"S": "c"})), Item) and len(items) == 2
    assert items.get(DynamoType({"S": "zz"})) is None


def test_a_write_during_a_build_of_the_same_key_is_not_overwritten(monkeypatch):
    build = _Raw.build

    def slow_build(self):
        time.sleep(0.3)  # the background builder, descheduled mid-build
        return build(self)

    monkeypatch.setattr(_Raw, "build", slow_build)
    key = DynamoType({"S": "k"})
    items = LazyItems()
    dict.__setitem__(items, key, _Raw(key, None, pickle.dumps({"id": {"S": "k"}, "v": {"N": "1"}})))
    new = Item(key, None, {"id": {"S": "k"}, "v": {"N": "2"}})
    builder = threading.Thread(target=lambda: items[key])
    builder.start()
    time.sleep(0.05)
    items[key] = new  # moto's put_item, racing the build
    builder.join()
    assert items[key] is new


def test_plain_turns_an_item_back_into_what_moto_builds_it_from():
    attrs = {"id": {"S": "k"}, "b": {"B": b"\x00\xff"}, "l": {"L": [{"N": "1.50"}, {"NULL": True}]},
             "m": {"M": {"x": {"SS": ["a", "b"]}}}}
    assert plain(Item(DynamoType({"S": "k"}), None, attrs)) == attrs


def test_a_record_round_trips_with_a_tab_in_its_key_and_its_exact_arrival_time():
    from moto.kinesis.models import Record

    record = Record.__new__(Record)
    record.partition_key, record.data, record.sequence_number = 'tab\there "q"', "ZGF0YQ==", 42
    record.explicit_hash_key, record.created_at = None, 1796516360.591741
    back = decode(encode(record), Record)
    assert (back.partition_key, back.data, back.sequence_number, back.explicit_hash_key,
            back.created_at) == ('tab\there "q"', "ZGF0YQ==", 42, None, 1796516360.591741)  # fmt: skip
    epoch = datetime.datetime(1970, 1, 1)
    assert back.created_at_datetime == epoch + datetime.timedelta(seconds=1796516360.591741)  # naive UTC


def test_frames_stop_at_a_torn_tail():
    data = frame(b"one") + frame(b"two") + frame(b"three")[:5]
    assert split_frames(data) == ([b"one", b"two"], 5)
    assert split_frames(frame(b"x")[:3]) == ([], 3)  # even the length cut short
    assert split_frames(b"") == ([], 0)
