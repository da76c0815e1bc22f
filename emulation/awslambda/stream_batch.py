"""What Lambda does with one batch of Kinesis records: invoke, then act on the outcome, as the
AWS Lambda developer guide documents for Kinesis event-source mappings.

- Success: checkpoint at the batch's last record.
- `ReportBatchItemFailures` (when enabled): a null/empty response or a null/empty
  `batchItemFailures` list is complete success; an item whose `itemIdentifier` is missing, null,
  empty or not a sequence number of the batch makes it a complete failure; otherwise the batch
  succeeded up to the lowest failed sequence number, which is checkpointed, and the records from
  the lowest failed one on are retried ("bisected at the returned sequence number").
- Function error (exception, timeout, crash): with `BisectBatchOnFunctionError` a batch of two or
  more records is split in two halves which are retried in order; splitting does not consume the
  retry quota. Otherwise the batch is retried.
- `MaximumRetryAttempts` (-1 = until the records expire) and `MaximumRecordAgeInSeconds`
  (-1 = no limit): past either, the records are discarded: the on-failure destination receives a
  record describing them (conditions `RetryAttemptsExhausted`, `RecordAgeExceeded`) and the
  checkpoint moves past them; if the destination cannot be reached, the checkpoint stays.
- A failure while the cloud's own AWS endpoint is down (`outage()`: moto restarting after a crash)
  uses no retry: the batch waits for the endpoint, then is invoked again. On AWS a region's
  Kinesis, DynamoDB and S3 do not all vanish at once; locally they are one process, and spending a
  batch's five retries on a two-second restart would send good records to the on-failure queue.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import StreamRecord, build_event

RETRY_BACKOFF_S = 0.1
RETRY_BACKOFF_MAX_S = 2.0
OUTAGE_POLL_S = 0.25


@dataclass(frozen=True)
class Outcome:
    kind: str
    """"success", "partial" or "failure"."""
    first_failed: int = 0
    """For "partial": index in the batch of the lowest failed sequence number."""
    reason: str = ""


def classify(result, records: list[StreamRecord], report_batch_item_failures: bool) -> Outcome:
    if result.error is not None:
        return Outcome("failure", reason=f"function error {result.error.get('errorType')}")
    if not report_batch_item_failures:
        return Outcome("success")
    response = result.payload
    if not isinstance(response, dict):
        return Outcome("success")
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return Outcome("success")
    if not isinstance(failures, list):
        return Outcome("failure", reason="batchItemFailures is not a list")
    index = {r.sequence_number: i for i, r in enumerate(records)}
    lowest = None
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in index:
            return Outcome("failure", reason=f"invalid batchItemFailures item {item!r}")
        lowest = index[ident] if lowest is None else min(lowest, index[ident])
    assert lowest is not None  # failures is a non-empty list here
    return Outcome("partial", first_failed=lowest, reason=f"{len(failures)} item failure(s)")


@dataclass
class _Part:
    records: list[StreamRecord]
    retries: int = 0
    invocations: int = 0
    last: Any = None


class BatchDelivery:
    """Delivers batches of one shard for one mapping; callbacks keep it free of I/O for tests."""

    def __init__(
        self,
        spec,
        invoke: Callable[[bytes], Any],
        checkpoint: Callable[[StreamRecord], None],
        discard: Callable[[list[StreamRecord], str, int, Any], None],
        wait: Callable[[float], bool],
        clock: Callable[[], float] = time.time,
        outage: Callable[[], bool] | None = None,
    ):
        """`wait(seconds)` sleeps and returns True when the mapping is stopping; `outage()` says
        the cloud's AWS endpoint does not answer (a failure then counts as no attempt)."""
        self.spec = spec
        self.outage = outage
        self.outages = 0
        self.invoke = invoke
        self.checkpoint = checkpoint
        self.discard = discard
        self.wait = wait
        self.clock = clock
        self.invocations = 0
        self.function_errors = 0
        self.records_discarded = 0
        self.records_succeeded = 0
        self.last_result = "No records processed"

    def deliver(self, records: list[StreamRecord]) -> bool:
        """True once every record is checkpointed; False if the mapping stopped first."""
        pending = deque([_Part(records)])
        while pending:
            part = pending[0]
            live = self._drop_expired(part)
            if not live:
                pending.popleft()
                continue
            result = self.invoke(build_event(part.records))
            self.invocations += 1
            part.invocations += 1
            part.last = result
            if result.error is not None:
                if self.wait(0):
                    return False  # stopping: the worker may have been killed by the shutdown
                self.function_errors += 1
            outcome = classify(result, part.records, self.spec.report_batch_item_failures)
            if outcome.kind == "success":
                self.last_result = "OK"
                self.records_succeeded += len(part.records)
                self.checkpoint(part.records[-1])
                pending.popleft()
                continue
            self.last_result = f"PROBLEM: {outcome.reason}"
            if self.outage is not None and self.outage():
                self.outages += 1
                if not self._wait_for_endpoint():
                    return False
                continue  # the same records again, no retry used
            if outcome.kind == "partial" and outcome.first_failed > 0:
                self.records_succeeded += outcome.first_failed
                self.checkpoint(part.records[outcome.first_failed - 1])
                part.records = part.records[outcome.first_failed :]
            elif (
                outcome.kind == "failure"
                and self.spec.bisect_batch_on_function_error
                and len(part.records) > 1
            ):
                half = len(part.records) // 2
                pending.popleft()
                pending.appendleft(_Part(part.records[half:], part.retries))
                pending.appendleft(_Part(part.records[:half], part.retries))
                continue  # splitting does not consume the retry quota
            part.retries += 1
            limit = self.spec.maximum_retry_attempts
            if limit != -1 and part.retries > limit:
                self._discard(part.records, "RetryAttemptsExhausted", part)
                pending.popleft()
                continue
            if self.wait(min(RETRY_BACKOFF_S * 2 ** (part.retries - 1), RETRY_BACKOFF_MAX_S)):
                return False
        return True

    def _wait_for_endpoint(self) -> bool:
        """Until the AWS endpoint answers again; False if the mapping stops first."""
        while self.outage is not None and self.outage():
            if self.wait(OUTAGE_POLL_S):
                return False
        return True

    def _drop_expired(self, part: _Part) -> bool:
        """Discard the records older than MaximumRecordAgeInSeconds; True if any remain."""
        max_age = self.spec.maximum_record_age_s
        if max_age != -1:
            cutoff = self.clock() - max_age
            expired = 0
            while expired < len(part.records) and part.records[expired].arrival < cutoff:
                expired += 1
            if expired:
                self._discard(part.records[:expired], "RecordAgeExceeded", part)
                part.records = part.records[expired:]
        return bool(part.records)

    def _discard(self, records: list[StreamRecord], condition: str, part: _Part) -> None:
        self.records_discarded += len(records)
        self.discard(records, condition, part.invocations, part.last)
        self.checkpoint(records[-1])
