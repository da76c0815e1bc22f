"""Kinesis Data Streams in moto 5.2.1: make a shard safe and fast to fill and read.

What moto does wrong (moto/kinesis/models.py, `Shard`):
- `put_record` finds the last sequence number with `list(self.records.keys())[-1]`, a copy of every
  key on every write, so filling a shard is quadratic (1,000 records: fast; 100,000: minutes).
- `put_record` is not locked ("this function is not safe for concurrency"): two producer threads of
  the threaded server can read the same last number and the second write overwrites the first,
  silently losing a record that was acknowledged with a sequence number.
- `get_records` walks the shard from its first record on every call, so a consumer reading a full
  shard batch by batch is quadratic too, and iterating while a producer appends can raise
  "OrderedDict mutated during iteration".

The fix, applied inside the moto server process by `apply()`:
- the last/first sequence numbers come from the ends of the (insertion-ordered) dict in O(1);
- each shard has a lock held while a sequence number is assigned and the record stored, and each
  stream has a lock held for a whole `PutRecords` call (its records are contiguous per shard);
- `get_records` seeks straight to `last + 1`: moto numbers a shard's records 1, 2, 3, ... with no gaps;
- `get_sequence_number_at` (AT_TIMESTAMP iterators) bisects on arrival time instead of scanning;
- the GetRecords response is written with orjson (moto's generic serializer took ~100 µs a record);
- PutRecords reads its JSON body once (moto re-parsed the whole body for each parameter it read)
  and writes its response with orjson; a call's records share one arrival time (moto read
  the clock twice per record) and their sizes come from the base64 length (moto decoded each).

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

_APPLIED = False
# The arrival time of the PutRecords call a thread is storing (None outside one).
_arrival = threading.local()
# Guards lazy creation of the per-object locks (a shard created before the patch has none yet).
_LOCK_FOR_LOCKS = threading.Lock()


def _lock_of(obj: Any) -> threading.RLock:
    lock = obj.__dict__.get("_localcloud_lock")
    if lock is None:
        with _LOCK_FOR_LOCKS:
            lock = obj.__dict__.get("_localcloud_lock")
            if lock is None:
                # Reentrant: moto's persistence (emulation.moto.persistence.kinesis) holds the
                # stream's and shards' locks around a whole PutRecords call, this code inside it.
                lock = threading.RLock()
                obj._localcloud_lock = lock
    return lock


def _max_sequence_number(self) -> int:
    return next(reversed(self.records), 0)


def _min_sequence_number(self) -> int:
    return next(iter(self.records), 0)


def _put_record(self, partition_key: str, data: str, explicit_hash_key: str) -> str:
    from moto.kinesis.models import Record

    now = getattr(_arrival, "now", None) or _now()
    with _lock_of(self):
        sequence_number = next(reversed(self.records), 0) + 1
        # Record.__init__ reads the clock twice per record (a third of a 500-record call's time).
        record = Record.__new__(Record)  # BaseModel.__new__ still tracks the instance
        record.partition_key, record.data = partition_key, data
        record.sequence_number, record.explicit_hash_key = sequence_number, explicit_hash_key
        record.created_at, record.created_at_datetime = now
        self.records[sequence_number] = record
    return str(sequence_number)


def _now() -> tuple[float, Any]:
    """(epoch seconds, naive UTC datetime): what moto's Record keeps as its arrival time."""
    import datetime

    epoch = round(time.time(), 6)
    return epoch, datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(tzinfo=None)


def _get_records(self, last_sequence_id: str, limit: int | None):
    last = int(last_sequence_id)
    with _lock_of(self):
        newest = next(reversed(self.records), 0)
        end = newest if limit is None else min(newest, last + limit)
        try:
            results = [self.records[seq] for seq in range(last + 1, end + 1)]
        except KeyError:  # numbering with a gap: never produced by moto, but stay correct
            return _original["get_records"](self, last_sequence_id, limit)
        if not results:
            return [], last, 0
        behind_s = self.records[newest].created_at - results[-1].created_at
    return results, results[-1].sequence_number, int(behind_s * 1000)


def _sequence_number_at(self, at_timestamp: float) -> int:
    with _lock_of(self):
        seqs = list(self.records) if _has_gap(self.records) else range(1, len(self.records) + 1)
        if not seqs or at_timestamp <= self.records[seqs[0]].created_at:
            return 0
        # First record arriving at or after the timestamp; the one before it is the answer.
        index = bisect.bisect_left(seqs, at_timestamp, key=lambda s: self.records[s].created_at)
        return seqs[index - 1]


def _has_gap(records) -> bool:
    return bool(records) and (next(iter(records)) != 1 or next(reversed(records)) != len(records))


def _put_records(self, stream_arn, stream_name, records):
    """KinesisBackend.put_records: moto's checks and per-record writes, under the stream's lock,
    with one arrival time per call and record sizes computed from the base64 text's length."""
    from moto.kinesis.exceptions import (
        RecordSizeExceedsLimit,
        TooManyRecords,
        TotalRecordsSizeExceedsLimit,
    )

    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    if len(records) > 500:
        raise TooManyRecords
    sizes = [_decoded_length(r.get("Data", "")) + len(r.get("PartitionKey", "")) for r in records]
    if sum(sizes) > 5242880:
        raise TotalRecordsSizeExceedsLimit
    for position, size in enumerate(sizes, start=1):
        if size > 1048576:
            raise RecordSizeExceedsLimit(position=position)
    results = []
    with _lock_of(stream):
        _arrival.now = _now()  # a call's records arrive together
        try:
            for record in records:
                sequence_number, shard_id = stream.put_record(
                    record.get("PartitionKey"), record.get("ExplicitHashKey"), record.get("Data")
                )
                results.append({"SequenceNumber": sequence_number, "ShardId": shard_id})
        finally:
            _arrival.now = None
    return {"FailedRecordCount": 0, "Records": results}


def _decoded_length(text: str) -> int:
    """Bytes of padded base64 `text` (what boto3 sends), without decoding it."""
    return len(text) // 4 * 3 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def _get_records_response(self) -> tuple[bytes, dict]:
    """GetRecords' JSON written directly: moto's generic serializer costs ~100 µs per record
    (a 10,000-record page took ~1.4 s), which capped every Kinesis consumer near 5,000 records/s."""
    import orjson

    next_iterator, records, millis_behind = self.kinesis_backend.get_records(
        self._get_param("StreamARN"), self._get_param("ShardIterator"), self._get_param("Limit")
    )
    body = orjson.dumps(
        {
            "NextShardIterator": next_iterator,
            "MillisBehindLatest": millis_behind,
            "Records": [
                {
                    "SequenceNumber": str(r.sequence_number),
                    "ApproximateArrivalTimestamp": round(r.created_at, 3),
                    "Data": r.data,
                    "PartitionKey": r.partition_key,
                }  # Data is stored base64-encoded already
                for r in records
            ],
        }
    )
    return body, {}  # (body, headers): moto passes bytes through only in this form


def _put_records_response(self) -> tuple[bytes, dict]:
    """PutRecords with the body parsed once and the response written directly (see the docstring)."""
    import orjson

    body = orjson.loads(self.body)
    result = self.kinesis_backend.put_records(
        body.get("StreamARN"), body.get("StreamName"), body.get("Records")
    )
    return orjson.dumps(result), {}


_original: dict[str, Any] = {}


def apply(runtime_url: str | None = None) -> None:
    """Patch moto's Kinesis shard model in this process (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.kinesis.models import KinesisBackend, Shard

    _original.update(
        {f"Shard.{name}": getattr(Shard, name) for name in _SHARD_METHODS},
        get_records=Shard.get_records,
        put_records=KinesisBackend.put_records,
    )
    Shard.put_record = _put_record
    Shard.get_records = _get_records
    Shard.get_max_sequence_number = _max_sequence_number
    Shard.get_min_sequence_number = _min_sequence_number
    Shard.get_sequence_number_at = _sequence_number_at
    KinesisBackend.put_records = _put_records
    from moto.kinesis.responses import KinesisResponse

    _original["KinesisResponse.get_records"] = KinesisResponse.get_records
    KinesisResponse.get_records = _get_records_response
    _original["KinesisResponse.put_records"] = KinesisResponse.put_records
    KinesisResponse.put_records = _put_records_response
    _APPLIED = True


_SHARD_METHODS = (
    "put_record", "get_records", "get_max_sequence_number", "get_min_sequence_number",
    "get_sequence_number_at",
)  # fmt: skip


def revert() -> None:
    """Restore stock moto (tests compare both behaviours in one process)."""
    global _APPLIED
    if not _APPLIED:
        return
    from moto.kinesis.models import KinesisBackend, Shard

    for name in _SHARD_METHODS:
        setattr(Shard, name, _original[f"Shard.{name}"])
    KinesisBackend.put_records = _original["put_records"]
    from moto.kinesis.responses import KinesisResponse

    KinesisResponse.get_records = _original["KinesisResponse.get_records"]
    KinesisResponse.put_records = _original["KinesisResponse.put_records"]
    _APPLIED = False
