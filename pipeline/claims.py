"""Event-id claims: the first content accepted for an event id is the only content ever accepted.

An event id names one immutable event. Before the ingest function puts a request's events on the
stream it claims each id in the `event_claim` table with a digest of the event's content
(`SaleEvent.content_digest`): an unclaimed id is claimed, an id claimed with the same digest is a
resend (accepted: client retries must stay safe), and an id claimed with another digest is a
conflict: the whole request is refused (409) and nothing is written. So at most one version of an
event ever reaches the stream, and every sink (DynamoDB, the archive, the warehouse, the batch
table) holds that version, whatever shard or invoice a second version would have gone to.

Layout, chosen so the common case (a replay sending consecutive lines) costs one read and at most
two small writes per request: one item per (source-file prefix, block of BLOCK_LINES line numbers)

    id_block   S  "<16 hex prefix>:<line // BLOCK_LINES>"                (partition key)
    digests    S  BLOCK_LINES slots of DIGEST_CHARS characters; slot i is the digest of line
                  block * BLOCK_LINES + i, or UNCLAIMED                  (~12 KB)
    version    N  +1 per write of `digests`: the optimistic lock of the conditional UpdateItem
    conflicts  N  events refused for a conflicting claim in this block (what `make e2e` reports)

Concurrent requests claiming in one block are serialised by the conditional UpdateItem: the loser
re-reads and tries again (and so sees a conflicting claim the winner just made). Claims are made
before the stream write and are never undone: a request that fails after claiming (a throttled
PutRecords) can always be resent with the same content.

Domain code: the DynamoDB client is passed in (boto3's low-level signature), nothing imports boto3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .backoff import Backoff
from .events import SaleEvent
from .ingest import error_code

BLOCK_LINES = 1000
DIGEST_CHARS = 12
UNCLAIMED = "." * DIGEST_CHARS
MAX_ATTEMPTS = 6
"""Reads + conditional writes per request before giving up (503: the client retries)."""
CLAIMS_BACKOFF = Backoff(base_s=0.02, cap_s=1.0)
BATCH_GET_KEYS = 100


class ClaimsUnavailable(RuntimeError):
    """The claims could not be recorded (throttling, lost races every time): retry later."""


@dataclass(frozen=True)
class Conflict:
    index: int
    event_id: str

    def rejection(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "problems": [
                "event_id: already accepted with different content; an event id names one "
                "immutable event: resend it unchanged, or give a new sale line its own id"
            ],
        }


def block_of(event_id: str) -> tuple[str, int]:
    """(id_block key, slot) of an event id `<prefix>:<line>`."""
    prefix, _, line = event_id.rpartition(":")
    number = int(line)
    return f"{prefix}:{number // BLOCK_LINES}", number % BLOCK_LINES


def blocks_of_scope(prefix: str, first_line: int, last_line: int) -> list[str]:
    """The id_block keys covering lines first_line..last_line of one source file."""
    return [f"{prefix}:{b}" for b in range(first_line // BLOCK_LINES, last_line // BLOCK_LINES + 1)]


def wanted_claims(events: Iterable[SaleEvent]) -> dict[str, dict[int, tuple[str, int]]]:
    """id_block -> slot -> (digest, index of the first event with that id in the request)."""
    wanted: dict[str, dict[int, tuple[str, int]]] = {}
    for index, event in enumerate(events):
        block, slot = block_of(event.event_id)
        wanted.setdefault(block, {}).setdefault(slot, (event.content_digest(), index))
    return wanted


def apply_claims(
    digests: str | None, slots: dict[int, tuple[str, int]]
) -> tuple[str | None, list[int]]:
    """The block's new `digests` (None: nothing to write) and the request indexes in conflict."""
    current = digests if digests is not None else UNCLAIMED * BLOCK_LINES
    cells = [current[i : i + DIGEST_CHARS] for i in range(0, len(current), DIGEST_CHARS)]
    conflicts, changed = [], False
    for slot, (digest, index) in sorted(slots.items()):
        held = cells[slot]
        if held == UNCLAIMED:
            cells[slot], changed = digest, True
        elif held != digest:
            conflicts.append(index)
    return ("".join(cells) if changed else None), conflicts


class EventClaims:
    """Claims for one request, against the claims table through a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str, *, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.table = table
        self._sleep = sleep

    def claim(self, events: list[SaleEvent]) -> list[Conflict]:
        """Claim every event's id; return the conflicts (then nothing may be written)."""
        pending = wanted_claims(events)
        for attempt in range(MAX_ATTEMPTS):
            current = self.read(pending)
            conflicts: list[Conflict] = []
            writes: list[tuple[str, str, int | None]] = []
            for block, slots in pending.items():
                digests, version = current.get(block, (None, None))
                new, refused = apply_claims(digests, slots)
                conflicts += [Conflict(i, events[i].event_id) for i in refused]
                if new is not None:
                    writes.append((block, new, version))
            if conflicts:
                self._count(conflicts)
                return sorted(conflicts, key=lambda c: c.index)
            lost = {block for block, new, version in writes if not self._write(block, new, version)}
            if not lost:
                return []
            pending = {block: pending[block] for block in lost}
            self._sleep(CLAIMS_BACKOFF.delay(attempt))
        raise ClaimsUnavailable(
            f"event claims in {self.table!r} kept losing concurrent writes ({MAX_ATTEMPTS} attempts)"
        )

    def read(self, blocks: Iterable[str]) -> dict[str, tuple[str, int]]:
        """id_block -> (digests, version) of the blocks that exist (strongly consistent)."""
        keys = sorted(blocks)
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {
                self.table: {
                    "Keys": [{"id_block": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "id_block, digests, version",
                }
            }
            for attempt in range(MAX_ATTEMPTS):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["id_block"]["S"]] = (item["digests"]["S"], int(item["version"]["N"]))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(CLAIMS_BACKOFF.delay(attempt))
            else:
                raise ClaimsUnavailable(f"BatchGetItem on {self.table!r} left keys unprocessed")
        return found

    def _write(self, block: str, digests: str, version: int | None) -> bool:
        """Conditional write; False when another request wrote the block since it was read."""
        if version is None:
            condition, values = "attribute_not_exists(id_block)", {}
        else:
            condition, values = "version = :seen", {":seen": {"N": str(version)}}
        try:
            # UpdateItem rather than PutItem: the block's conflict counter is kept as it is.
            self.client.update_item(
                TableName=self.table,
                Key={"id_block": {"S": block}},
                UpdateExpression="SET digests = :d, version = :v",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":d": {"S": digests},
                    ":v": {"N": str((version or 0) + 1)},
                    **values,
                },
            )
        except Exception as exc:  # botocore's ClientError is not importable here
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _count(self, conflicts: list[Conflict]) -> None:
        per_block: dict[str, int] = {}
        for conflict in conflicts:
            block, _ = block_of(conflict.event_id)
            per_block[block] = per_block.get(block, 0) + 1
        for block, n in per_block.items():
            self.client.update_item(
                TableName=self.table,
                Key={"id_block": {"S": block}},
                UpdateExpression="ADD conflicts :n",
                ExpressionAttributeValues={":n": {"N": str(n)}},
            )

    def conflicts(self, blocks: Iterable[str]) -> int:
        """Events refused for conflicting claims in these blocks, in total."""
        keys = sorted(set(blocks))
        total = 0
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {
                self.table: {
                    "Keys": [{"id_block": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]],
                    "ProjectionExpression": "conflicts",
                }
            }
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                total += sum(
                    int(item.get("conflicts", {}).get("N", "0"))
                    for item in response.get("Responses", {}).get(self.table, [])
                )
                request = response.get("UnprocessedKeys") or {}
        return total
