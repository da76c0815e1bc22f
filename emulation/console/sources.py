"""The console's reads that cost something, each cached or incremental so watching is cheap.

- `Every`: re-run a read when its trigger changed (e.g. Firehose's COPY count; at most every
  `min_s`) or it is older than its period; between, the last answer is served.
- `ArchiveCounter`: the S3 archive's objects, lines and distinct events, reading each object once
  (objects are immutable; a key whose ETag changed is read again). Distinct events are kept as a
  bitmap of line numbers per event-id prefix (`<sha16>:<line>`): 70 KB for the full file, not a set
  of 541,909 strings.
- `warehouse_counts`: one round trip of COUNTs (the dedup view's count is the expensive one, so the
  collector runs it only when Firehose loaded something or a Glue run changed).
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable
from typing import Any

_EVENT_ID = re.compile(rb'"event_id":\s*"([0-9a-f]{16}):(\d+)"')


class Every:
    """A cached read: `get()` re-runs `read` when `trigger()` changed (at most every `min_s`) or
    `period_s` passed."""

    def __init__(
        self,
        read: Callable[[], Any],
        period_s: float,
        trigger: Callable[[], Any] = lambda: None,
        min_s: float = 0.0,
    ):
        self._read, self._period, self._trigger, self._min = read, period_s, trigger, min_s
        self._at = float("-inf")
        self._key: Any = object()
        self.value: Any = None
        self.error: str | None = None

    def get(self) -> Any:
        key, age = self._trigger(), time.monotonic() - self._at
        if (key != self._key and age >= self._min) or age >= self._period:
            self._at, self._key = time.monotonic(), key
            try:
                self.value, self.error = self._read(), None
            except Exception as exc:  # noqa: BLE001 - shown on the page; the other figures still update
                self.error = f"{type(exc).__name__}: {exc}"[:300]
        return self.value


class ArchiveCounter:
    def __init__(self, s3, bucket: str, prefix: str):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self._seen: dict[str, str] = {}
        self._bits: dict[bytes, bytearray] = {}
        self.complete = True
        self.objects = 0
        self.lines = 0
        self.events = 0
        self.bytes = 0

    def refresh(self, max_objects: int = 200) -> dict[str, int]:
        """Read new objects, at most `max_objects` per call (a backlog is read over several calls,
        each returning the figures so far; `complete` says whether every listed object was read)."""
        read, self.complete = 0, True
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for obj in page.get("Contents", []):
                if self._seen.get(obj["Key"]) == obj.get("ETag", ""):
                    continue
                if obj["Key"] in self._seen:
                    self._reset()  # an object was rewritten: count everything again
                    return self.refresh(max_objects)
                if read >= max_objects:
                    self.complete = False
                    continue
                read += 1
                body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                self._count(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
                self._seen[obj["Key"]] = obj.get("ETag", "")
                self.objects += 1
                self.bytes += int(obj.get("Size", 0))
        return self.figures()

    def figures(self) -> dict[str, int]:
        return {
            "objects": self.objects,
            "lines": self.lines,
            "events": self.events,
            "redelivered_lines": self.lines - self.events,
            "bytes": self.bytes,
            "complete": self.complete,
        }

    def _count(self, text: bytes) -> None:
        for prefix, number in _EVENT_ID.findall(text):
            self.lines += 1
            line = int(number)
            bits = self._bits.get(prefix)
            if bits is None:
                bits = self._bits[prefix] = bytearray(1024)
            if line // 8 >= len(bits):
                bits.extend(bytes(max(line // 8 + 1 - len(bits), len(bits))))
            mask = 1 << (line % 8)
            if not bits[line // 8] & mask:
                bits[line // 8] |= mask
                self.events += 1

    def _reset(self) -> None:
        self._seen.clear()
        self._bits.clear()
        self.objects = self.lines = self.events = self.bytes = 0


WAREHOUSE_TABLES = (
    "stream.sales_events",
    "stream.sales_events_dedup",
    "analytics.sales",
    "analytics.sales_quarantine",
)
LOAD_ERRORS = "localcloud.stl_load_errors"


def warehouse_counts(conn) -> dict[str, Any]:
    """Rows per table, the quarantine's reasons and the COPY load errors, in one transaction."""
    counts = {}
    for table in WAREHOUSE_TABLES:
        counts[table] = _scalar(conn, f"SELECT COUNT(*) FROM {table}")
    quarantine = (
        conn.execute(
            "SELECT reason, COUNT(*) FROM analytics.sales_quarantine GROUP BY reason ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
        if counts["analytics.sales_quarantine"]
        else []
    )
    errors = _scalar(conn, f"SELECT COUNT(*) FROM {LOAD_ERRORS}", missing=0)
    recent = (
        conn.execute(
            f"SELECT err_code, err_reason, left(raw_line, 120), filename FROM {LOAD_ERRORS} ORDER BY id DESC LIMIT 5"
        ).fetchall()
        if errors
        else []
    )
    return {
        "tables": counts,
        "load_errors": errors,
        "quarantine_reasons": [{"reason": r, "rows": n} for r, n in quarantine],
        "recent_load_errors": [
            {"code": c, "reason": r, "line": line, "file": f} for c, r, line, f in recent
        ],
    }


def _scalar(conn, sql: str, missing: Any = None) -> Any:
    try:
        return conn.execute(sql).fetchone()[0]
    except Exception:  # a table not created yet (e.g. no COPY has failed)
        if missing is None:
            raise
        conn.rollback()
        return missing
