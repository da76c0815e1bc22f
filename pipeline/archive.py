"""The raw archive of the sale stream: which records of a batch go to which S3 object, and how.

Pure helpers for `pipeline.handlers.archive` (no boto3). Layout (Hive partitions, read by the Glue
Data Catalog table `raw_sales_events`):

    <prefix>event_date=YYYY-MM-DD/<shardId>-<first sequence number of the batch>.jsonl.gz

Each object is gzip JSON lines: the Kinesis record data exactly as it was put (one event per line,
"\\n"-terminated). Beside the data, one small manifest per batch start lists the data objects
written by attempts that started at that sequence number:

    _archive_manifests/<prefix><shardId>-<first sequence number>.json

It lives outside the table's prefix so the catalog never reads it. Why it exists is explained in
`pipeline.handlers.archive`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .events import SaleEvent

MANIFEST_ROOT = "_archive_manifests/"


def object_key(prefix: str, event_date: str, shard_id: str, first_sequence: str) -> str:
    return f"{prefix}event_date={event_date}/{shard_id}-{first_sequence}.jsonl.gz"


def manifest_key(prefix: str, shard_id: str, first_sequence: str) -> str:
    return f"{MANIFEST_ROOT}{prefix}{shard_id}-{first_sequence}.json"


def encode_lines(lines: Iterable[bytes]) -> bytes:
    """Gzip JSON lines; mtime 0 so the same records always make the same bytes (and ETag)."""
    body = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    return gzip.compress(body, mtime=0)


def decode_lines(blob: bytes) -> list[bytes]:
    """The record data held by an archive object, one entry per line (each with its newline)."""
    return gzip.decompress(blob).splitlines(keepends=True)


def encode_manifest(keys: Iterable[str]) -> bytes:
    return json.dumps({"objects": sorted(set(keys))}, indent=1).encode("utf-8")


def decode_manifest(blob: bytes) -> set[str]:
    return set(json.loads(blob)["objects"])


@dataclass
class Poison:
    sequence: str
    reason: str


@dataclass
class ArchivePlan:
    """What one attempt at a batch writes, and which record the mapping must resume from."""

    objects: dict[str, list[bytes]] = field(default_factory=dict)
    """event_date -> record data, in stream order."""
    poison: list[Poison] = field(default_factory=list)
    resume_from: str | None = None
    """Sequence number to report in batchItemFailures (None: the whole batch is archived)."""

    @property
    def archived(self) -> int:
        return sum(len(lines) for lines in self.objects.values())


def plan_batch(records: list[tuple[str, bytes]]) -> ArchivePlan:
    """Group a batch's (sequence number, data) by event date, stopping at poison records.

    A record that is not a valid event is never archived. If the batch starts with one, every
    valid record of the batch is archived and the first record reported: the retry starts at the
    same sequence number and so rewrites the same objects. If a poison record comes later, only
    the records before it are archived and it is reported: the retry starts at it, and its records
    must not already sit in this batch's objects, or they would be archived twice.
    """
    plan = ArchivePlan()
    for index, (sequence, data) in enumerate(records):
        try:
            event_date = SaleEvent.from_record(data).event_date
        except ValueError as exc:
            plan.poison.append(Poison(sequence, str(exc)))
            if index > 0 and plan.resume_from is None:
                plan.resume_from = sequence
                break
            plan.resume_from = plan.resume_from or sequence
            continue
        plan.objects.setdefault(event_date, []).append(data)
    return plan
