"""API Gateway usage-plan throttling and quotas, per API key.

Emulates: each key attached to a usage plan gets a token bucket (`rateLimit` tokens per second,
`burstLimit` capacity, starting full) and a request quota per DAY, WEEK or MONTH. A request over the
rate is 429 `Too Many Requests`; over the quota, 429 `Limit Exceeded`. A throttled request does not
use quota.

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum


@dataclass(frozen=True)
class PlanLimits:
    rate_limit: float
    """Steady requests per second."""
    burst_limit: int
    quota_limit: int | None = None
    quota_period: str = "DAY"


class Verdict(Enum):
    ALLOWED = "allowed"
    THROTTLED = "throttled"
    QUOTA_EXCEEDED = "quota_exceeded"


def quota_window(period: str, now: float) -> str:
    """A label that changes exactly when a new quota period starts."""
    day = datetime.fromtimestamp(now, tz=UTC)
    if period == "DAY":
        return day.strftime("%Y-%m-%d")
    if period == "WEEK":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "MONTH":
        return day.strftime("%Y-%m")
    raise ValueError(f"quota period {period!r} is not DAY, WEEK or MONTH")


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]):
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _KeyUsage:
    def __init__(self, limits: PlanLimits, clock: Callable[[], float]):
        self.limits = limits
        self.bucket = TokenBucket(limits.rate_limit, limits.burst_limit, clock)
        self.window = ""
        self.used = 0
        self.lock = threading.Lock()


class UsagePlanLimiter:
    """Thread-safe admission per API key id; `clock` is injectable so tests need no sleeping."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._clock = clock
        self._wall = wall_clock
        self._usage: dict[str, _KeyUsage] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: str, limits: PlanLimits) -> Verdict:
        usage = self._usage.get(key_id)
        if usage is None or usage.limits != limits:
            with self._lock:
                usage = self._usage.get(key_id)
                if usage is None or usage.limits != limits:
                    usage = self._usage[key_id] = _KeyUsage(limits, self._clock)
        with usage.lock:
            if not usage.bucket.take():
                return Verdict.THROTTLED
            if limits.quota_limit is not None:
                window = quota_window(limits.quota_period, self._wall())
                if window != usage.window:
                    usage.window, usage.used = window, 0
                if usage.used >= limits.quota_limit:
                    return Verdict.QUOTA_EXCEEDED
                usage.used += 1
            return Verdict.ALLOWED

    def remaining_quota(self, key_id: str) -> int | None:
        usage = self._usage.get(key_id)
        if usage is None or usage.limits.quota_limit is None:
            return None
        return usage.limits.quota_limit - usage.used
