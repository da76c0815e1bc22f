"""What the stage served, per request: the console's API figures (CloudWatch's API Gateway
metrics `Count`, `4XXError`, `5XXError`, `Latency`, plus what only the body tells: events).

One `record()` per request (never per event): requests by status, events accepted, events and
requests rejected by reason, throttled requests, and the latency from the request line to the
answer (`emulation.metrics.Histogram`). A 200 on a batch route accepts every event of the batch;
any other answer's JSON body says what it did (`accepted_count`, `rejected`, `message`), so only
refusals, which are rare, are parsed.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from typing import Any

from emulation.metrics import Histogram

_NUMBERS = re.compile(r"\d+")


class ApiMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        """Requests per HTTP status."""
        self.events_accepted = 0
        self.events_rejected: Counter[str] = Counter()
        self.requests_rejected: Counter[str] = Counter()
        self.throttled = 0
        self.latency = Histogram()

    def record(self, status: int, events: int | None, body: bytes, elapsed_ms: float) -> None:
        """One answered request; `events`: how many the request's batch held (None: no batch)."""
        self.latency.add(elapsed_ms)
        accepted, rejected, reason = (events or 0), 0, None
        if status != 200:
            doc = _json(body)
            accepted = int(doc.get("accepted_count") or 0) if events else 0
            rejected = (
                len(doc["rejected"])
                if isinstance(doc.get("rejected"), list)
                else (events or 0) - accepted
            )
            reason = f"{status} {_NUMBERS.sub('N', str(doc.get('message') or 'no message'))[:80]}"
        with self._lock:
            self.requests[str(status)] += 1
            self.events_accepted += accepted
            if reason is not None:
                self.requests_rejected[reason] += 1
                if rejected > 0:
                    self.events_rejected[reason] += rejected
            if status == 429:
                self.throttled += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            doc = {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "events_accepted": self.events_accepted,
                "events_rejected": dict(self.events_rejected),
                "requests_rejected": dict(self.requests_rejected),
                "throttled": self.throttled,
            }
        doc["latency"] = self.latency.summary()
        return doc


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def batch_size(document: Any) -> int | None:
    """Events in a validated request body: a batch `{"events": [...]}` (None for other bodies)."""
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        return len(document["events"])
    return None
