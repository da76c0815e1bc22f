"""POST /events with retries: the replay client's only contact with the REST API.

Retried (bounded attempts, exponential backoff with full jitter, or exactly the server's
Retry-After when it sends one): 429, 5xx, timeouts and connection errors. A 503 from the ingest
function lists which events were written; only the others are resent. Resending after a timeout
is safe: event ids are stable, and every sink keys on them.

A refused connection before any connection to the API was made means nothing listens at the URL:
it fails after CONNECT_ATTEMPTS. Once one was made, a refused connection is an outage (the local cloud's
runtime restarting after a crash, `make down && make up`): the batch waits for the API to come
back, retrying every few seconds, for up to `outage_s` (default 120 s) without using up its
attempts; the replay then goes on where it was.
Not retried: 400 (the events are invalid) and 409 (an event id already accepted with other
content), both reported as rejected; 403 (wrong or missing API key),
404 (wrong API URL) and other 4xx; 403/404 stop the whole replay with a message naming the fix.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from pipeline.backoff import Backoff
from pipeline.events import SaleEvent

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 60.0
CONNECT_ATTEMPTS = 3
"""A refused connection is retried less: it usually means nothing listens at the URL."""
OUTAGE_S = 120.0
"""How long a batch waits for an API that answered before and now refuses connections."""
OUTAGE_RETRY_MAX_S = 2.0


class ApiError(RuntimeError):
    """A failure no retry can fix; the replay stops and prints this message."""


@dataclass
class BatchOutcome:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Event ids still not written after the last attempt."""
    failed_reason: str = ""
    retries: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds per HTTP request (retries included)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """Full jitter after attempt number `attempt` (1: the first): `pipeline.backoff`."""
        return Backoff(self.base_delay_s, self.max_delay_s).delay(attempt - 1, rand)


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110); None if absent/unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class EventsApi:
    """Thread-safe: one keep-alive connection pool shared by the replay's worker threads."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        pool_size: int = 8,
        outage_s: float = OUTAGE_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not api_url:
            raise ApiError(
                'no API URL: pass --api-url or set API_URL (for the local cloud: eval "$(make -s env)")'
            )
        if not api_key:
            raise ApiError(
                'no API key: pass --api-key or set API_KEY (for the local cloud: eval "$(make -s env)")'
            )
        self.url = api_url.rstrip("/") + "/events"
        self.policy = policy
        self.outage_s = outage_s
        self._clock = clock
        self._reached = False
        """A connection to the API was made at least once (it answered, or a request of ours was
        cut after connecting): a refused connection is then an outage, not a wrong URL."""
        self._sleep = sleep
        self._rand = rand
        self._rand_lock = threading.Lock()
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._http = httpx.Client(
            headers={"x-api-key": api_key, "content-type": "application/json"},
            timeout=timeout_s,
            limits=limits,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _jitter(self, attempt: int) -> float:
        with self._rand_lock:
            return self.policy.backoff(attempt, self._rand)

    def send(self, events: list[SaleEvent]) -> BatchOutcome:
        """POST the events (one request per attempt); resend only what the API did not accept."""
        outcome = BatchOutcome()
        pending = list(events)
        last_problem = ""
        attempt = 0
        outage_since: float | None = None
        while True:
            attempt += 1
            body = json.dumps({"events": [e.wire() for e in pending]}, separators=(",", ":"))
            started = time.perf_counter()
            try:
                response = self._http.post(self.url, content=body.encode("utf-8"))
            except httpx.ConnectError as exc:
                outcome.latencies.append(time.perf_counter() - started)
                last_problem = f"cannot connect ({exc})"
                if self._reached:  # an outage of an API that was there: wait for it, within limits
                    now = self._clock()
                    outage_since = now if outage_since is None else outage_since
                    if now - outage_since > self.outage_s:
                        raise ApiError(
                            f"the API at {self.url} stopped accepting connections {self.outage_s:.0f} s "
                            f"ago ({exc}); the events of this batch were not all written. For the local "
                            "cloud: make status, make up (it restarts only what is down)."
                        ) from exc
                    attempt -= 1  # waiting for the API to come back uses no attempt
                    outcome.retries += 1
                    self._sleep(min(OUTAGE_RETRY_MAX_S, self._jitter(attempt + 3)))
                    continue
                if attempt >= min(CONNECT_ATTEMPTS, self.policy.max_attempts):
                    raise ApiError(
                        f"cannot reach the API at {self.url}: {exc}. Is it running? For the local "
                        'cloud: make up, then eval "$(make -s env)".'
                    ) from exc
                delay = self._jitter(attempt)
            except httpx.TransportError as exc:  # timeouts, resets: the batch may or may not be in
                self._reached = True  # connected, then cut: something listens at the URL
                outcome.latencies.append(time.perf_counter() - started)
                last_problem = f"{type(exc).__name__}: {exc}"
                delay = self._jitter(attempt)
            else:
                outage_since = None
                self._reached = True
                outcome.latencies.append(time.perf_counter() - started)
                status = response.status_code
                if status == 200:
                    outcome.accepted += len(pending)
                    return outcome
                if status in (400, 409):  # invalid, or an id already accepted with other content
                    outcome.rejected = _rejected(response, pending)
                    return outcome
                if status == 403:
                    raise ApiError(
                        f"the API refused the key (403 from {self.url}): check --api-key / API_KEY "
                        '(for the local cloud: eval "$(make -s env)")'
                    )
                if status == 404:
                    raise ApiError(
                        f"no POST /events at {self.url} (404): API_URL must be the stage URL, "
                        "e.g. http://127.0.0.1:4567/v1"
                    )
                if status not in RETRYABLE_STATUS:
                    raise ApiError(f"POST {self.url} answered {status}: {response.text[:500]}")
                pending = self._still_pending(response, pending, outcome)
                if not pending:
                    return outcome
                last_problem = f"HTTP {status}: {response.text[:200]}"
                hinted = retry_after_seconds(response.headers.get("retry-after"))
                delay = hinted if hinted is not None else self._jitter(attempt)
            if attempt >= self.policy.max_attempts:
                break
            outcome.retries += 1
            self._sleep(delay)
        outcome.failed = [e.event_id for e in pending]
        outcome.failed_reason = last_problem
        return outcome

    @staticmethod
    def _still_pending(
        response: httpx.Response, pending: list[SaleEvent], outcome: BatchOutcome
    ) -> list[SaleEvent]:
        """After a 503 that lists accepted/failed events, keep only the failed ones."""
        try:
            body = response.json()
        except ValueError:
            return pending
        if not isinstance(body, dict) or not isinstance(body.get("accepted"), list):
            return pending
        accepted = {a.get("index") for a in body["accepted"] if isinstance(a, dict)}
        outcome.accepted += len(accepted)
        return [e for i, e in enumerate(pending) if i not in accepted]


def _rejected(response: httpx.Response, pending: list[SaleEvent]) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    listed = body.get("rejected") if isinstance(body, dict) else None
    if listed:
        return listed
    message = body.get("message") if isinstance(body, dict) else response.text[:500]
    return [
        {"index": i, "event_id": e.event_id, "problems": [str(message)]}
        for i, e in enumerate(pending)
    ]
