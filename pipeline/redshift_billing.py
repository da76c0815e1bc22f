"""The Redshift Serverless billing model: what statements cost (pure arithmetic: no AWS, no
database). `make cost` applies it to the local warehouse's statements (emulation/redshift/
cost_report.py); the warehouse benchmark to COPY vs row-by-row loads.

AWS bills Redshift Serverless compute in RPU-hours on a per-second basis while queries run, with
a 60-second minimum charge. The model used here, and documented in docs/warehouse.md:

- every statement makes the workgroup billable from its start for max(its duration, 60 s);
- overlapping billable windows count once (the workgroup is either active or idle);
- the charge is billed seconds / 3600 x RPUs x price per RPU-hour
  (8 RPU x $0.375 = $3.00 per active hour, the smallest base capacity at us-east-1's price).

So a stream of small statements less than 60 s apart keeps the workgroup billing without pause,
and thousands of single-row INSERTs cost their serial run time on top of that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

MINIMUM_CHARGE_S = 60.0
DEFAULT_RPU = 8
DEFAULT_PRICE_PER_RPU_HOUR = 0.375
DEFAULT_SECONDS_PER_INSERT = 0.05
"""Assumed wall time of one single-row INSERT on Redshift (an assumption, not a measurement)."""


@dataclass(frozen=True)
class Usage:
    statements: int
    billed_seconds: float
    rpu: int
    price_per_rpu_hour: float

    @property
    def rpu_hours(self) -> float:
        return self.billed_seconds / 3600.0 * self.rpu

    @property
    def charge(self) -> float:
        return self.rpu_hours * self.price_per_rpu_hour


def billed_seconds(
    statements: Iterable[tuple[float, float]], minimum_s: float = MINIMUM_CHARGE_S
) -> float:
    """Billed time of statements given as (start epoch seconds, duration seconds)."""
    windows = sorted((start, start + max(duration, minimum_s)) for start, duration in statements)
    total, current_start = 0.0, 0.0
    current_end: float | None = None
    for start, end in windows:
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def usage(
    statements: list[tuple[float, float]],
    rpu: int = DEFAULT_RPU,
    price_per_rpu_hour: float = DEFAULT_PRICE_PER_RPU_HOUR,
) -> Usage:
    if rpu < 8 or rpu % 8:
        raise ValueError(
            f"rpu must be a multiple of 8, at least 8 (Redshift Serverless base capacity), got {rpu}"
        )
    if price_per_rpu_hour < 0:
        raise ValueError("price per RPU-hour cannot be negative")
    return Usage(len(statements), billed_seconds(statements), rpu, price_per_rpu_hour)


def row_by_row(
    events: int,
    span_s: float,
    rpu: int = DEFAULT_RPU,
    price_per_rpu_hour: float = DEFAULT_PRICE_PER_RPU_HOUR,
    seconds_per_insert: float = DEFAULT_SECONDS_PER_INSERT,
) -> Usage:
    """One INSERT per event, arriving over `span_s` seconds: the workgroup never idles (inserts are
    far less than 60 s apart) and runs at least the inserts' serial time."""
    if events < 0 or span_s < 0 or seconds_per_insert <= 0:
        raise ValueError("events and span must be >= 0 and seconds_per_insert > 0")
    if events == 0:
        return Usage(0, 0.0, rpu, price_per_rpu_hour)
    busy = max(span_s, events * seconds_per_insert)
    return Usage(events, busy + MINIMUM_CHARGE_S, rpu, price_per_rpu_hour)


def firehose_copies(
    events: int,
    event_bytes: float,
    events_per_second: float,
    buffer_size_mb: int,
    buffer_interval_s: int,
) -> int:
    """COPY statements Firehose issues for `events` arriving at a steady rate: a buffer is
    delivered when it holds buffer_size_mb or is buffer_interval_s old, whichever comes first."""
    if events <= 0:
        return 0
    if event_bytes <= 0 or events_per_second <= 0:
        raise ValueError("event_bytes and events_per_second must be positive")
    per_buffer_by_size = math.floor(buffer_size_mb * 1024 * 1024 / event_bytes)
    per_buffer_by_time = (
        max(1, math.floor(events_per_second * buffer_interval_s)) if buffer_interval_s else 1
    )
    per_copy = max(1, min(per_buffer_by_size, per_buffer_by_time))
    return math.ceil(events / per_copy)
