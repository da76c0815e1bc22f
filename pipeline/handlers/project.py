"""Kinesis consumer (event-source mapping): upsert the `invoice` and `customer` tables.

Per batch: decode every record, group the events by invoice, read the current invoice and customer
items (BatchGetItem, strongly consistent), merge (`pipeline.projections`), write the invoices that
changed with BatchWriteItem and the customers with a conditional PutItem.

Why the writes are safe:
  - invoices: the stream's partition key is invoice_no, so all lines of an invoice are on one
    shard, processed in order by one poller: nobody else writes that item meanwhile, and a blind
    overwrite of the merged item loses nothing;
  - customers: one customer's invoices are spread over shards, so two pollers may update the same
    customer at once. The write is conditional on the `revision` read (a digest of the invoice
    map); on ConditionalCheckFailed we re-read, re-merge and retry a bounded number of times.
  - merges are idempotent, so whatever is re-delivered (a retried batch, records after a failed
    one) changes nothing; unchanged items are not written at all.

Round trips: the batch's DynamoDB calls are independent per chunk and per customer, so they run
on a small thread pool (boto3 clients are thread-safe); a batch costs the latency of its slowest
chain of calls instead of the sum of ~20-40 sequential round trips (one conditional PutItem per
customer: BatchWriteItem cannot carry the revision condition, and TransactWriteItems would double
the write cost and fail a whole chunk on one conflict).

Failures (ReportBatchItemFailures): a record that cannot be decoded or breaks the event rules is
a poison record; it is logged with its sequence number and reported, and so is every record whose
invoice or customer could not be written after bounded retries. The mapping resumes from the
lowest reported sequence number, so the records after it come again: harmless, merges are
idempotent. Crucially, every valid record of the batch is applied in every attempt, including
those after a poison record: when the retries run out and the mapping sends the failed range to the
on-failure queue and moves on, the good records of that range are already in the tables, and the
queue message names a range whose only unapplied records are the poison ones.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from pipeline.events import SaleEvent
from pipeline.handlers import clients
from pipeline.projections import (
    MAX_ITEM_BYTES,
    customer_summaries,
    group_by_invoice,
    item_size,
    merge_customer,
    merge_invoice,
)

logger = Logger(service="sales-projector")

BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
MAX_ATTEMPTS = 6
"""Rounds for unprocessed keys/items, and optimistic-lock retries per customer."""
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0
PARALLEL_CALLS = 8
"""DynamoDB calls in flight per invocation (chunks, customers)."""
_pool: ThreadPoolExecutor | None = None


def _map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """`[fn(i) for i in items]`, concurrently when there is more than one (order kept)."""
    global _pool
    if len(items) <= 1:
        return [fn(i) for i in items]
    if _pool is None:  # one pool per execution environment, reused while warm
        _pool = ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="dynamodb")
    return list(_pool.map(fn, items))


def use_dynamodb_client(client: Any) -> None:
    """Inject the dynamodb client (tests, or callers with their own session)."""
    clients.use("dynamodb", client)


def _dynamodb_client() -> Any:
    return clients.client("dynamodb")


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt)))  # full jitter


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def _deserialize(raw: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in raw.items()}


def decode_record(record: dict[str, Any]) -> SaleEvent:
    """The sale event of one Kinesis record of a Lambda event (raises ValueError if poison)."""
    try:
        data = base64.b64decode(record["kinesis"]["data"], validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"record data is not base64: {exc}") from None
    return SaleEvent.from_record(data)  # ValueError (InvalidEvent, JSON, UTF-8) if broken


class Projector:
    def __init__(self, client: Any, invoice_table: str, customer_table: str):
        self.client = client
        self.invoice_table = invoice_table
        self.customer_table = customer_table

    def process(self, records: list[dict[str, Any]]) -> list[str]:
        """Apply a batch; return the sequence numbers to report as failed."""
        failed: set[str] = set()
        events: list[SaleEvent] = []
        sequences: dict[str, list[str]] = {}  # invoice_no -> sequence numbers of its records
        for record in records:
            sequence = record["kinesis"]["sequenceNumber"]
            try:
                event = decode_record(record)
            except ValueError as exc:
                logger.error("poison record", extra={"event_id": record.get("eventID"),
                                                     "sequence_number": sequence, "reason": str(exc)})
                failed.add(sequence)
                continue
            events.append(event)
            sequences.setdefault(event.invoice_no, []).append(sequence)
        groups = group_by_invoice(events)
        if groups:
            current = self._batch_get(self.invoice_table, "invoice_no", groups)
            merged = {no: merge_invoice(current.get(no), evs) for no, evs in groups.items()}
            changed = [item for no, item in merged.items() if item != current.get(no)]
            unwritten = self._write_invoices(changed)
            for no in unwritten:
                failed.update(sequences[no])
            written = [item for no, item in merged.items() if no not in unwritten]
            for customer_id, invoice_nos in self._update_customers(written).items():
                for no in invoice_nos:
                    failed.update(sequences[no])
        return sorted(failed, key=int)

    def _batch_get(self, table: str, key: str, values: Iterable[str]) -> dict[str, dict[str, Any]]:
        values = sorted(values)
        chunks = [values[start : start + BATCH_GET_KEYS] for start in range(0, len(values), BATCH_GET_KEYS)]
        found: dict[str, dict[str, Any]] = {}
        for part in _map(lambda chunk: self._batch_get_chunk(table, key, chunk), chunks):
            found.update(part)
        return found

    def _batch_get_chunk(self, table: str, key: str, chunk: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        request = {table: {"Keys": [{key: {"S": v}} for v in chunk], "ConsistentRead": True}}
        for attempt in range(MAX_ATTEMPTS + 1):
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = _deserialize(raw)
                found[item[key]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            _backoff(attempt)
        raise RuntimeError(
            f"BatchGetItem on {table}: keys still unprocessed after {MAX_ATTEMPTS} retries"
        )

    def _write_invoices(self, items: list[dict[str, Any]]) -> set[str]:
        """BatchWriteItem in chunks of 25; returns the invoice_nos that could not be written."""
        unwritten: set[str] = set()
        writable = []
        for item in items:
            if item_size(item) > MAX_ITEM_BYTES:  # cannot ever fit: report, never retry forever
                logger.error("invoice item too large", extra={"invoice_no": item["invoice_no"],
                                                               "bytes": item_size(item)})
                unwritten.add(item["invoice_no"])
            else:
                writable.append(item)
        chunks = [writable[start : start + BATCH_WRITE_ITEMS]
                  for start in range(0, len(writable), BATCH_WRITE_ITEMS)]
        for left in _map(self._write_invoice_chunk, chunks):
            unwritten.update(left)
        return unwritten

    def _write_invoice_chunk(self, chunk: list[dict[str, Any]]) -> list[str]:
        """One BatchWriteItem (and its unprocessed rounds); returns the invoice_nos left unwritten."""
        request = {self.invoice_table: [{"PutRequest": {"Item": _serialize(i)}} for i in chunk]}
        for attempt in range(MAX_ATTEMPTS + 1):
            response = self.client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return []
            _backoff(attempt)
        left = [r["PutRequest"]["Item"]["invoice_no"]["S"] for r in request[self.invoice_table]]
        logger.warning("invoices unprocessed after retries", extra={"invoice_nos": left})
        return left

    def _update_customers(self, invoices: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Merge each customer's invoice summaries; return customer_id -> invoice_nos not applied."""
        updates = customer_summaries(invoices)
        if not updates:
            return {}
        current = self._batch_get(self.customer_table, "customer_id", updates)
        customers = list(updates.items())
        applied = _map(lambda c: self._update_customer(c[0], c[1], current.get(c[0])), customers)
        return {cid: list(summaries) for (cid, summaries), ok in zip(customers, applied) if not ok}

    def _update_customer(self, customer_id: str, summaries: dict, current: dict | None) -> bool:
        from botocore.exceptions import ClientError

        for attempt in range(MAX_ATTEMPTS + 1):
            merged = merge_customer(current, customer_id, summaries)
            if merged == current:
                return True
            if current is None:
                condition, values = "attribute_not_exists(customer_id)", None
            elif "revision" not in current:  # an item from before revisions existed
                condition = "attribute_exists(customer_id) AND attribute_not_exists(revision)"
                values = None
            else:
                condition, values = "revision = :seen", {":seen": {"S": current["revision"]}}
            kwargs = {"ExpressionAttributeValues": values} if values else {}
            try:
                self.client.put_item(TableName=self.customer_table, Item=_serialize(merged),
                                     ConditionExpression=condition, **kwargs)
                return True
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    logger.warning("customer write failed", extra={"customer_id": customer_id,
                                                                   "error": str(exc)})
                    return False
            # Someone else changed the customer since we read it: re-read and merge again.
            _backoff(attempt)
            fresh = self._batch_get(self.customer_table, "customer_id", [customer_id])
            current = fresh.get(customer_id)
        logger.warning("customer write kept conflicting", extra={"customer_id": customer_id})
        return False


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    invoice_table = os.environ.get("INVOICE_TABLE")
    customer_table = os.environ.get("CUSTOMER_TABLE")
    if not invoice_table or not customer_table:
        # A deployment error: fail the whole batch so nothing is skipped while it is fixed.
        raise RuntimeError("sales-projector is misconfigured: set INVOICE_TABLE and CUSTOMER_TABLE")
    records = event.get("Records") or []
    failed = Projector(_dynamodb_client(), invoice_table, customer_table).process(records)
    logger.info("batch projected", extra={"records": len(records), "failed": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
