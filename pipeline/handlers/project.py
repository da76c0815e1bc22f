"""Kinesis consumer (event-source mapping): upsert the `invoice` and `customer` tables.

Each invoice and each (customer, invoice) summary item has one writer (the invoice's shard), and
merges are idempotent, so blind overwrites lose nothing and re-deliveries change nothing; every
valid record is applied in every attempt, poison ones are reported. The batch's steps, the page
write order and the failure rules: docs/tables.md ("How the projector applies a batch",
"Concurrency", "Failures the projector reports").
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from pipeline.backoff import Backoff
from pipeline.customers import customer_summaries
from pipeline.events import SaleEvent
from pipeline.handlers import clients
from pipeline.handlers.attribute_values import from_item as _deserialize
from pipeline.handlers.attribute_values import to_item as _serialize
from pipeline.handlers.settings import ProjectorSettings
from pipeline.invoice_pages import FIRST_PAGE, assemble, page_count, page_key, paginate
from pipeline.projections import group_by_invoice

logger = Logger(service="sales-projector")

BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
MAX_ATTEMPTS = 6
"""Rounds for unprocessed keys/items."""
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0
PARALLEL_CALLS = 8
"""DynamoDB calls in flight per invocation (chunks, invoices)."""
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
    time.sleep(
        Backoff(BASE_DELAY_S, MAX_DELAY_S).delay(attempt)
    )  # read at call time: tests shorten it


def decode_record(record: dict[str, Any]) -> SaleEvent:
    """The sale event of one Kinesis record of a Lambda event (raises ValueError if poison)."""
    try:
        data = base64.b64decode(record["kinesis"]["data"], validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"record data is not base64: {exc}") from None
    return SaleEvent.from_record(data)  # ValueError (InvalidEvent, JSON, UTF-8) if broken


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["invoice_no"], item["page"]


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
                logger.error(
                    "poison record",
                    extra={
                        "event_id": record.get("eventID"),
                        "sequence_number": sequence,
                        "reason": str(exc),
                    },
                )
                failed.add(sequence)
                continue
            events.append(event)
            sequences.setdefault(event.invoice_no, []).append(sequence)
        groups = group_by_invoice(events)
        if not groups:
            return sorted(failed, key=int)
        current = self._read_invoices(groups)
        merged: dict[str, dict[str, Any]] = {}
        plans = []
        for invoice_no, evs in groups.items():
            pages = current.get(invoice_no, {})
            invoice = assemble(pages.values(), evs, on_conflict=_log_conflict(invoice_no))
            if invoice is None:  # a group holds at least one event, so at least one line
                raise ValueError(f"invoice {invoice_no} assembled to no line")
            merged[invoice_no] = invoice
            new = paginate(invoice)
            if len(pages) != len(new) or new != [pages.get(p["page"]) for p in new]:
                plans.append((pages, new))
        unwritten = self._write_invoices(plans)
        written = [item for no, item in merged.items() if no not in unwritten]
        unwritten |= self._write_customers(written)
        for invoice_no in unwritten:
            failed.update(sequences[invoice_no])
        return sorted(failed, key=int)

    # --- reading ---------------------------------------------------------------------------

    def _read_invoices(self, invoice_nos: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """invoice_no -> page -> page item, for the invoices that exist."""
        heads = self._batch_get([(no, FIRST_PAGE) for no in sorted(invoice_nos)])
        found: dict[str, dict[str, dict[str, Any]]] = {
            no: {FIRST_PAGE: head} for (no, _), head in heads.items()
        }
        spread = [no for no, pages in found.items() if page_count(pages[FIRST_PAGE]) > 1]
        for no, pages in zip(spread, _map(self._query_pages, spread)):
            found[no] = pages
        return found

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        chunks = [
            keys[start : start + BATCH_GET_KEYS] for start in range(0, len(keys), BATCH_GET_KEYS)
        ]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for part in _map(self._batch_get_chunk, chunks):
            found.update(part)
        return found

    def _batch_get_chunk(
        self, chunk: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        table = self.invoice_table
        request = {
            table: {
                "Keys": [{"invoice_no": {"S": no}, "page": {"S": page}} for no, page in chunk],
                "ConsistentRead": True,
            }
        }
        for attempt in range(MAX_ATTEMPTS + 1):
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = _deserialize(raw)
                found[_key(item)] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            _backoff(attempt)
        raise RuntimeError(
            f"BatchGetItem on {table}: keys still unprocessed after {MAX_ATTEMPTS} retries"
        )

    def _query_pages(self, invoice_no: str) -> dict[str, dict[str, Any]]:
        """Every page item of one invoice, stale ones included (strongly consistent)."""
        pages: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.invoice_table,
            "ConsistentRead": True,
            "KeyConditionExpression": "invoice_no = :no",
            "ExpressionAttributeValues": {":no": {"S": invoice_no}},
        }
        while True:
            response = self.client.query(**kwargs)
            for raw in response.get("Items", []):
                item = _deserialize(raw)
                pages[item["page"]] = item
            if "LastEvaluatedKey" not in response:
                return pages
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- writing invoices ------------------------------------------------------------------

    def _write_invoices(self, plans: list[tuple[dict[str, dict], list[dict]]]) -> set[str]:
        """Write the changed invoices; return the invoice_nos that could not be written."""
        single, spread = [], []
        for current, new in plans:
            if len(new) == 1 and page_count(current.get(FIRST_PAGE)) <= 1 and len(current) <= 1:
                single.append(new[0])  # the common case: one item, overwritten as it always was
            else:
                spread.append((current, new))
        unwritten = set(self._put_all(single))
        for invoice_no in _map(self._write_spread, spread):
            if invoice_no:
                unwritten.add(invoice_no)
        return unwritten

    def _write_spread(self, plan: tuple[dict[str, dict], list[dict]]) -> str | None:
        """The multi-page write protocol (module docstring); returns the invoice_no on failure."""
        current, new = plan
        invoice_no = new[0]["invoice_no"]
        head = current.get(FIRST_PAGE)
        known = max(page_count(head), max((int(p) + 1 for p in current), default=0))
        if len(new) > page_count(head):
            self.client.update_item(
                TableName=self.invoice_table,
                Key={"invoice_no": {"S": invoice_no}, "page": {"S": FIRST_PAGE}},
                UpdateExpression="SET spill_mark = :n",
                ExpressionAttributeValues={":n": {"N": str(len(new))}},
            )
        changed = [p for p in new[1:] if current.get(p["page"]) != p]
        stale = [page_key(n) for n in range(len(new), known)]
        if self._put_all(changed) or self._delete_pages(invoice_no, stale):
            return invoice_no
        if self._put_all([new[0]]):
            return invoice_no
        logger.info(
            "invoice spread over pages",
            extra={"invoice_no": invoice_no, "pages": len(new), "stale_removed": len(stale)},
        )
        return None

    def _put_all(self, items: list[dict[str, Any]]) -> list[str]:
        """BatchWriteItem puts in chunks of 25; the invoice_nos left unwritten."""
        return self._batch_write(
            self.invoice_table,
            [{"PutRequest": {"Item": _serialize(i)}} for i in items],
            "invoice_no",
        )

    def _delete_pages(self, invoice_no: str, pages: list[str]) -> list[str]:
        requests = [
            {"DeleteRequest": {"Key": {"invoice_no": {"S": invoice_no}, "page": {"S": p}}}}
            for p in pages
        ]
        return self._batch_write(self.invoice_table, requests, "invoice_no")

    def _batch_write(self, table: str, requests: list[dict[str, Any]], owner: str) -> list[str]:
        """BatchWriteItem in chunks of 25; the `owner` attribute of the requests left unwritten."""
        chunks = [
            requests[start : start + BATCH_WRITE_ITEMS]
            for start in range(0, len(requests), BATCH_WRITE_ITEMS)
        ]
        left: list[str] = []
        for part in _map(lambda chunk: self._batch_write_chunk(table, chunk, owner), chunks):
            left += part
        return left

    def _batch_write_chunk(self, table: str, chunk: list[dict[str, Any]], owner: str) -> list[str]:
        request = {table: chunk}
        for attempt in range(MAX_ATTEMPTS + 1):
            response = self.client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return []
            _backoff(attempt)
        left = sorted(
            {
                (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])[owner]["S"]
                for r in request[table]
            }
        )
        logger.warning("items unprocessed after retries", extra={"table": table, "items": left})
        return left

    # --- writing customers -----------------------------------------------------------------

    def _write_customers(self, invoices: list[dict[str, Any]]) -> set[str]:
        """Put the summary items of these invoices; return the invoice_nos not fully written."""
        items = [summary for invoice in invoices for summary in customer_summaries(invoice)]
        requests = [{"PutRequest": {"Item": _serialize(i)}} for i in items]
        return set(self._batch_write(self.customer_table, requests, "invoice_no"))


def _log_conflict(invoice_no: str) -> Callable[[str], None]:
    def log(event_id: str) -> None:
        # Ingest refuses a second version of an event id (pipeline.claims); seeing one here means
        # a record reached the stream some other way. The merge keeps one by content; say so.
        logger.error(
            "conflicting versions of an event id",
            extra={"event_id": event_id, "invoice_no": invoice_no},
        )

    return log


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Misconfigured (a deployment error) fails the whole batch: nothing is skipped while it is fixed.
    settings = ProjectorSettings.from_environment()
    records = event.get("Records") or []
    failed = Projector(_dynamodb_client(), settings.invoice_table, settings.customer_table).process(
        records
    )
    logger.info("batch projected", extra={"records": len(records), "failed": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
