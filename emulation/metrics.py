"""Cheap runtime counters the console reads: a fixed-bucket histogram of durations.

The stream path's CPU per event matters, so counters are kept per request or per invocation (never
per event) and cost one bisect and a few additions under a lock held for that long. Quantiles are
read from the buckets: each bucket is 10% wider than the previous, so a quantile is exact to 10%
(the bucket's upper bound is reported), which is as precise as a dashboard needs.
"""

from __future__ import annotations

import bisect
import threading

_BOUNDS_MS: tuple[float, ...] = tuple(round(0.1 * 1.1**i, 4) for i in range(150))
"""Upper bounds from 0.1 ms up to ~160 s; a longer duration falls in the last bucket."""


class Histogram:
    """Durations in milliseconds: count, sum and quantiles. Thread-safe."""

    def __init__(self) -> None:
        self._counts = [0] * (len(_BOUNDS_MS) + 1)
        self.count = 0
        self.total_ms = 0.0
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        index = bisect.bisect_left(_BOUNDS_MS, ms)
        with self._lock:
            self._counts[index] += 1
            self.count += 1
            self.total_ms += ms

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (None when empty)."""
        with self._lock:
            counts, total = list(self._counts), self.count
        if not total:
            return None
        rank, seen = max(1, round(q * total + 0.4999)), 0
        for index, n in enumerate(counts):
            seen += n
            if seen >= rank:
                return _BOUNDS_MS[min(index, len(_BOUNDS_MS) - 1)]
        return _BOUNDS_MS[-1]

    def summary(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "p50_ms": self.quantile(0.50),
            "p99_ms": self.quantile(0.99),
            "mean_ms": round(self.total_ms / self.count, 3) if self.count else None,
        }
