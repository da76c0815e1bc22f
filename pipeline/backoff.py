"""The one retry delay of the pipeline: exponential backoff with full jitter.

The replay client, ingest's PutRecords and event claims, the projector's batch reads and writes,
and the e2e's sink reads all wait `Backoff.delay(retry)` between attempts: a delay drawn uniformly
in [0, min(cap, base * 2**retry)], which spreads the retries of concurrent writers ("full jitter",
as the AWS SDKs do). Shipped with the handlers (stdlib only).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float
    """The first retry's cap: retry n waits at most base_s * 2**n."""
    cap_s: float
    """No retry waits longer than this."""

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (0: the first retry)."""
        return rand() * min(self.cap_s, self.base_s * 2**retry)
