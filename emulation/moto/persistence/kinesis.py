"""Kinesis records on disk: one append-only log per shard, restored straight into the shard.

`<root>/kinesis/<stream>-<identity>/<shardId>.log`, where identity is a digest of the stream's ARN
and creation time (a stream deleted and created again under its name gets a new folder: the
consumers' checkpoints refer to that identity too). One frame per record:
`sequence \\t arrival (epoch seconds, exact float repr) \\t partition key \\t explicit hash key \\t
data (base64, as moto stores it)`; a partition key holding a tab or starting with `"` is written
as a JSON string. A restore rebuilds each record with the same sequence number and arrival time,
so the mappings' and Firehose's checkpoints (sequence numbers) and AT_TIMESTAMP iterators mean
what they meant before.

Order: a PutRecords (or PutRecord) call holds its stream's lock and every shard's lock while moto
stores its records and this module writes them (one `write` per shard and call). GetRecords takes
the shard's lock, so no consumer can read a record before it is in the log: a consumer outside
moto (Firehose loading the warehouse) can never act on a record that a crash then takes back.

Anything else that changes a stream (create, delete, reshard, retention...) is a control-plane
change: `sync()` then brings the logs in line (a new shard gets a log, a deleted stream's folder
is removed, a shard whose records differ from its log is rewritten).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections import OrderedDict
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from .files import AppendLog, Flusher, OpenLogs, read_frames, remove_tree, rewrite_frames

_original: dict[str, Any] = {}
_active: KinesisLogs | None = None


class KinesisLogs(OpenLogs):
    def __init__(self, root: Path, flusher: Flusher):
        super().__init__(root, "kinesis", flusher)

    # -- writing -------------------------------------------------------------------------------
    def stream_dir(self, stream) -> Path:
        identity = hashlib.sha256(
            f"{stream.arn}|{stream.creation_datetime!r}".encode()
        ).hexdigest()[:12]
        return self.dir / f"{stream.stream_name}-{identity}"

    def _log(self, path: Path) -> AppendLog:
        return self._open(path)

    def append_new(self, stream, before: dict[str, int]) -> None:
        """Log every record stored after `before` (per shard: the last sequence number then)."""
        folder = self.stream_dir(stream)
        for shard_id, shard in stream.shards.items():
            first = before.get(shard_id, 0) + 1
            last = next(reversed(shard.records), 0)
            if last < first:
                continue
            records = shard.records
            self._log(folder / f"{shard_id}.log").append(
                [encode(records[s]) for s in range(first, last + 1)]
            )
            shard._localcloud_logged = last

    def sync(self, backends) -> None:
        """After a control-plane change: every stream's logs hold exactly its shards' records."""
        live: set[Path] = set()
        for backend in backends:
            for stream in list(backend.streams.values()):
                folder = self.stream_dir(stream)
                live.add(folder)
                with guard(stream):
                    for shard_id, shard in stream.shards.items():
                        path = folder / f"{shard_id}.log"
                        newest = next(reversed(shard.records), 0)
                        if getattr(shard, "_localcloud_logged", None) == newest and path.exists():
                            continue
                        self._rewrite(path, [encode(r) for r in shard.records.values()])
                        shard._localcloud_logged = newest
        if self.dir.exists():
            for folder in self.dir.iterdir():
                if folder.is_dir() and folder not in live:
                    self._forget_stream(folder)

    def _rewrite(self, path: Path, payloads: list[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._forget(path)
        rewrite_frames(path, payloads, self.flusher)

    def _forget_stream(self, folder: Path) -> None:
        with self._lock:
            paths = [p for p in self._logs if p.parent == folder]
        for path in paths:
            self._forget(path)
        remove_tree(folder)

    # -- restoring -----------------------------------------------------------------------------
    def restore(self, backends, report) -> None:
        from moto.kinesis.models import Record

        records = shards = torn_total = 0
        for backend in backends:
            for stream in backend.streams.values():
                folder = self.stream_dir(stream)
                for shard_id, shard in stream.shards.items():
                    path = folder / f"{shard_id}.log"
                    frames, torn = read_frames(path)
                    target = shard.records = OrderedDict()
                    for payload in frames:
                        record = decode(payload, Record)
                        target[record.sequence_number] = record
                    shard._localcloud_logged = next(reversed(target), 0)
                    records += len(frames)
                    shards += 1
                    if (
                        torn
                    ):  # cut off for good: the next record is appended after the last whole one
                        os.truncate(path, path.stat().st_size - torn)
                        torn_total += 1
                        report.problem(
                            f"Kinesis {stream.stream_name}/{shard_id}: a torn last record "
                            f"({torn} bytes, never acknowledged) was dropped"
                        )
        report.count("Kinesis records", records, f"{shards} shard(s)")


def encode(record) -> bytes:
    key = record.partition_key
    if "\t" in key or key.startswith('"'):
        key = json.dumps(key)
    return (
        f"{record.sequence_number}\t{record.created_at!r}\t{key}\t"
        f"{record.explicit_hash_key or ''}\t{record.data}"
    ).encode()


def decode(payload: bytes, record_class):
    seq, arrival, key, hash_key, data = payload.decode().split("\t", 4)
    if key.startswith('"'):
        key = json.loads(key)
    record = record_class.__new__(record_class)
    epoch = float(arrival)
    record.partition_key, record.data = key, data
    record.sequence_number, record.explicit_hash_key = int(seq), hash_key or None
    record.created_at = epoch
    record.created_at_datetime = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(
        tzinfo=None
    )
    return record


@contextmanager
def guard(stream):
    """The stream's lock and every shard's lock (in shard order), the same reentrant locks the
    Kinesis patch takes, so readers of a shard wait until its new records are logged."""
    from emulation.moto.patches.kinesis import _lock_of

    with ExitStack() as stack:
        stack.enter_context(_lock_of(stream))
        for shard_id in sorted(stream.shards):
            stack.enter_context(_lock_of(stream.shards[shard_id]))
        yield


def _put_records(self, stream_arn, stream_name, records):
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    with guard(stream):
        before = {sid: next(reversed(s.records), 0) for sid, s in stream.shards.items()}
        try:
            return _original["put_records"](self, stream_arn, stream_name, records)
        finally:
            _active.append_new(stream, before)


def _put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data):
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    with guard(stream):
        before = {sid: next(reversed(s.records), 0) for sid, s in stream.shards.items()}
        try:
            return _original["put_record"](
                self, stream_arn, stream_name, partition_key, explicit_hash_key, data
            )
        finally:
            _active.append_new(stream, before)


def install(logs: KinesisLogs) -> None:
    """Log every record moto stores (after the Kinesis patch, whose locks it shares)."""
    global _active
    from moto.kinesis.models import KinesisBackend, Shard

    from .backends import strip

    _active = logs
    if not _original:
        _original.update(
            put_records=KinesisBackend.put_records, put_record=KinesisBackend.put_record
        )
        KinesisBackend.put_records = _put_records
        KinesisBackend.put_record = _put_record
    strip(Shard, records=OrderedDict, _localcloud_logged=None)
