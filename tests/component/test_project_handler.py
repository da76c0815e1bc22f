"""The projector Lambda against moto's in-process DynamoDB (real boto3 calls, real limits)."""

from __future__ import annotations

import threading
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from pipeline.customers import customer_view
from pipeline.events import parse_event
from pipeline.handlers import project
from pipeline.invoice_pages import MAX_ITEM_BYTES, item_size
from tests.component.conftest import create_pipeline_tables
from tests.sales import sale_fields
from tests.unit.stream_records import FIRST_SEQUENCE, REGION, kinesis_event, sequences

DIGEST = "00aa11bb22cc33dd"


def sale(line, invoice_no="536365", **fields):
    return parse_event(sale_fields(line, digest=DIGEST, invoice_no=invoice_no, **fields)).to_record_bytes()


@pytest.fixture
def dynamodb(monkeypatch, in_process_aws):
    monkeypatch.setenv("INVOICE_TABLE", "invoice")
    monkeypatch.setenv("CUSTOMER_TABLE", "customer")
    monkeypatch.setattr(project, "BASE_DELAY_S", 0.001)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_pipeline_tables(client)  # the real key schemas, sort keys included
        project.use_dynamodb_client(client)
        yield client
        project.use_dynamodb_client(None)


def get(client, table, key, value, page="0"):
    """An invoice's page item (page 0: the header), or a customer's view over its summary items."""
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    if table == "invoice":
        raw = client.get_item(TableName=table, Key={key: {"S": value}, "page": {"S": page}},
                              ConsistentRead=True).get("Item")
        return None if raw is None else {k: des.deserialize(v) for k, v in raw.items()}
    items = client.query(TableName=table, KeyConditionExpression=f"{key} = :v", ConsistentRead=True,
                         ExpressionAttributeValues={":v": {"S": value}})["Items"]
    return customer_view(value, [{k: des.deserialize(v) for k, v in i.items()} for i in items])


def scan(client, table):
    return sorted(
        (item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]),
        key=repr,
    )


def test_batch_lands_in_both_tables(dynamodb):
    event = kinesis_event([
        sale(2), sale(3, quantity=2, unit_price="0.85"),
        sale(4, invoice_no="536366", customer_id=None),
        sale(5, invoice_no="C536379", quantity=-1, country="EIRE", invoice_date="2010-12-02T10:00:00"),
    ])
    assert project.handler(event, None) == {"batchItemFailures": []}
    invoice = get(dynamodb, "invoice", "invoice_no", "536365")
    assert invoice["revenue"] == Decimal("17") and invoice["line_count"] == 2
    assert invoice["lines"][f"{DIGEST}:3"][3] == Decimal("0.85")
    assert get(dynamodb, "invoice", "invoice_no", "536366")["customer_id"] is None
    customer = get(dynamodb, "customer", "customer_id", "17850")
    assert (customer["invoice_count"], customer["cancellation_count"]) == (1, 1)
    assert customer["countries"] == ["EIRE", "United Kingdom"] and customer["country"] == "EIRE"
    assert customer["revenue"] == "14.45"
    # one item per (customer, invoice); the guest sale made none
    assert [(i["customer_id"]["S"], i["invoice_no"]["S"]) for i in scan(dynamodb, "customer")] == [
        ("17850", "536365"), ("17850", "C536379")]


def test_redelivery_and_overlapping_batches_leave_items_exactly_as_once(dynamodb):
    lines = [sale(n, invoice_no=f"5363{n % 3:02d}") for n in range(2, 12)]

    def applied() -> tuple[dict, dict]:
        """(invoice -> (lines, revenue), customer figures), read back from the tables."""
        invoices = {no: get(dynamodb, "invoice", "invoice_no", no) for no in ("536300", "536301", "536302")}
        customer = get(dynamodb, "customer", "customer_id", "17850")
        return ({no: (i["line_count"], i["revenue"]) for no, i in invoices.items()},
                {"invoices": customer["invoice_count"], "revenue": customer["revenue"]})

    # 10 lines of 6 x 2.55 = 15.30: 536300 and 536301 get 3 each, 536302 gets 4
    exact = ({"536300": (3, Decimal("45.9")), "536301": (3, Decimal("45.9")),
              "536302": (4, Decimal("61.2"))}, {"invoices": 3, "revenue": "153"})
    assert project.handler(kinesis_event(lines), None) == {"batchItemFailures": []}
    assert applied() == exact
    once = scan(dynamodb, "invoice"), scan(dynamodb, "customer")
    assert project.handler(kinesis_event(lines), None) == {"batchItemFailures": []}  # the whole batch again
    # a bisected, reordered retry
    assert project.handler(kinesis_event(lines[3:7] + lines[:2]), None) == {"batchItemFailures": []}
    assert applied() == exact
    assert (scan(dynamodb, "invoice"), scan(dynamodb, "customer")) == once


def test_poison_records_are_reported_and_the_rest_is_applied(dynamodb):
    event = kinesis_event([
        sale(2),
        b"not json at all\n",
        sale(3, invoice_no="536370"),
        b'{"event_id": "x"}\n',
        sale(4, invoice_no="536371"),
    ])
    event["Records"][1]["kinesis"]["data"] = "%%% not base64"
    seqs = sequences(event)
    response = project.handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": seqs[1]}, {"itemIdentifier": seqs[3]}]}
    # records after the first poison one were applied too: nothing good waits on the retry
    assert get(dynamodb, "invoice", "invoice_no", "536371")["line_count"] == 1
    # the mapping re-sends from the poison record: same report, same tables
    retry = {"Records": event["Records"][1:]}
    before = scan(dynamodb, "invoice"), scan(dynamodb, "customer")
    assert project.handler(retry, None)["batchItemFailures"][0] == {"itemIdentifier": seqs[1]}
    assert (scan(dynamodb, "invoice"), scan(dynamodb, "customer")) == before


def test_largest_invoice_of_the_data_is_one_item(dynamodb):
    big = [sale(n, invoice_no="573585", customer_id=None, stock_code="BANK CHARGES",
                description="X" * 36, unit_price="-11062.06") for n in range(100_000, 101_114)]
    assert project.handler(kinesis_event(big), None) == {"batchItemFailures": []}
    head = get(dynamodb, "invoice", "invoice_no", "573585")
    assert head["line_count"] == 1114 and head["pages"] == 1
    assert len(scan(dynamodb, "invoice")) == 1


def huge(lines, first=2):
    """Lines of 255 four-byte characters: 500 of them are ~530 KB, past the 400 KB item limit."""
    return [sale(n, invoice_no="573586", description="\U0001F600" * 255) for n in range(first, first + lines)]


def invoice_pages(client, invoice_no="573586"):
    from boto3.dynamodb.types import TypeDeserializer

    items = client.query(TableName="invoice", KeyConditionExpression="invoice_no = :n", ConsistentRead=True,
                         ExpressionAttributeValues={":n": {"S": invoice_no}})["Items"]
    return {i["page"]["S"]: {k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in items}


def test_an_invoice_past_the_item_limit_is_stored_whole_over_pages(dynamodb):
    event = kinesis_event(huge(500))
    assert project.handler(event, None) == {"batchItemFailures": []}
    pages = invoice_pages(dynamodb)
    assert sorted(pages) == ["0", "1"] and pages["0"]["pages"] == 2
    assert all(item_size(p) <= MAX_ITEM_BYTES for p in pages.values())
    assert sum(len(p["lines"]) for p in pages.values()) == 500 and pages["0"]["line_count"] == 500
    once = scan(dynamodb, "invoice"), scan(dynamodb, "customer")
    project.handler(event, None)  # redelivered: nothing changes
    project.handler({"Records": event["Records"][100:300]}, None)  # a bisected retry
    assert (scan(dynamodb, "invoice"), scan(dynamodb, "customer")) == once
    assert get(dynamodb, "customer", "customer_id", "17850")["quantity"] == 6 * 500


def test_an_invoice_growing_into_pages_over_batches_converges_to_one_delivery(dynamodb):
    lines = huge(700)
    for start in range(0, 700, 175):  # 175 lines at a time: 1, 2 ... 3 pages
        project.handler(kinesis_event(lines[start:start + 200], first=FIRST_SEQUENCE + start), None)
    by_batches = invoice_pages(dynamodb)
    dynamodb.delete_item(TableName="invoice", Key={"invoice_no": {"S": "573586"}, "page": {"S": "0"}})
    for page in by_batches:
        dynamodb.delete_item(TableName="invoice", Key={"invoice_no": {"S": "573586"}, "page": {"S": page}})
    project.handler(kinesis_event(lines), None)
    assert invoice_pages(dynamodb) == by_batches and len(by_batches) == 3


class CrashAfter:
    """Delegates to moto until `calls` write calls were made, then raises (a Lambda timeout)."""

    def __init__(self, client, calls):
        self.client, self.left = client, calls

    def _write(self, name, **kwargs):
        if self.left == 0:
            raise TimeoutError("the invocation timed out")
        self.left -= 1
        return getattr(self.client, name)(**kwargs)

    def batch_write_item(self, **kwargs):
        return self._write("batch_write_item", **kwargs)

    def update_item(self, **kwargs):
        return self._write("update_item", **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.mark.parametrize("crash_after", [1, 2])
def test_a_crash_between_page_writes_loses_nothing_and_leaves_no_stale_page(dynamodb, crash_after):
    """A batch that takes a small invoice to three pages crashes after the spill mark (1) or after
    the spill pages (2), before page 0; the retry is bisected (only the first 100 records): the
    lines of earlier batches survive, the pages the crash left are found and cut to the new size."""
    before = huge(100)
    project.handler(kinesis_event(before), None)
    grow = huge(700, first=102)
    project.use_dynamodb_client(CrashAfter(dynamodb, crash_after))
    with pytest.raises(TimeoutError):
        project.handler(kinesis_event(grow, first=FIRST_SEQUENCE + 100), None)
    project.use_dynamodb_client(dynamodb)
    assert get(dynamodb, "invoice", "invoice_no", "573586")["line_count"] == 100  # page 0 unchanged
    project.handler(kinesis_event(grow[:100], first=FIRST_SEQUENCE + 100), None)  # the bisected retry
    pages = invoice_pages(dynamodb)
    assert int(pages["0"]["pages"]) == len(pages) and "spill_mark" not in pages["0"]
    lines = {eid for p in pages.values() for eid in p["lines"]}
    assert pages["0"]["line_count"] == len(lines) >= 200  # the first 100 and the retried 100, at least
    assert {f"{DIGEST}:{n}" for n in range(2, 102)} <= lines
    # the rest of the batch comes again later (the mapping resumes): the invoice ends as if whole
    project.handler(kinesis_event(grow, first=FIRST_SEQUENCE + 100), None)
    whole = invoice_pages(dynamodb)
    assert whole["0"]["line_count"] == 800 and int(whole["0"]["pages"]) == len(whole)


def test_many_invoices_respect_batch_limits(dynamodb):
    # 130 invoices and 130 customers: > 25 per BatchWriteItem, > 100 per BatchGetItem (moto refuses more)
    lines = [sale(n, invoice_no=f"{540000 + n}", customer_id=str(12000 + n)) for n in range(2, 132)]
    assert project.handler(kinesis_event(lines), None) == {"batchItemFailures": []}
    assert len(scan(dynamodb, "invoice")) == 130 and len(scan(dynamodb, "customer")) == 130


class FlakyClient:
    """Delegates to moto, but leaves half of the first batch request unprocessed (as throttling does)."""

    def __init__(self, client):
        self.client = client
        self.unprocessed_given = {"batch_get_item": 0, "batch_write_item": 0}

    def batch_get_item(self, RequestItems):
        (table, request), = RequestItems.items()
        if len(request["Keys"]) > 1 and not self.unprocessed_given["batch_get_item"]:
            self.unprocessed_given["batch_get_item"] += 1
            half = len(request["Keys"]) // 2
            response = self.client.batch_get_item(RequestItems={table: {**request, "Keys": request["Keys"][:half]}})
            response["UnprocessedKeys"] = {table: {**request, "Keys": request["Keys"][half:]}}
            return response
        return self.client.batch_get_item(RequestItems=RequestItems)

    def batch_write_item(self, RequestItems):
        (table, requests), = RequestItems.items()
        if len(requests) > 1 and not self.unprocessed_given["batch_write_item"]:
            self.unprocessed_given["batch_write_item"] += 1
            half = len(requests) // 2
            self.client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self.client.batch_write_item(RequestItems=RequestItems)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_unprocessed_keys_and_items_are_retried(dynamodb):
    project.handler(kinesis_event([sale(2, invoice_no="536400"), sale(3, invoice_no="536401")]), None)
    flaky = FlakyClient(dynamodb)
    project.use_dynamodb_client(flaky)
    lines = [sale(n, invoice_no=f"5364{n % 4:02d}") for n in range(4, 20)]
    assert project.handler(kinesis_event(lines), None) == {"batchItemFailures": []}
    assert flaky.unprocessed_given == {"batch_get_item": 1, "batch_write_item": 1}
    assert get(dynamodb, "invoice", "invoice_no", "536400")["line_count"] == 5  # read back, merged
    assert sum(get(dynamodb, "invoice", "invoice_no", f"5364{k:02d}")["line_count"] for k in range(4)) == 18


def test_two_shards_write_one_customer_at_once_and_lose_nothing(dynamodb):
    """A customer's invoices arrive on several shards; each writes its own summary item, so two
    pollers updating one customer at the same moment cannot overwrite each other."""
    barrier = threading.Barrier(2)

    class Together:
        def __init__(self, client):
            self.client = client

        def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's signature
            if "customer" in RequestItems:
                barrier.wait(timeout=10)  # both write their customer items at once
            return self.client.batch_write_item(RequestItems=RequestItems)

        def __getattr__(self, name):
            return getattr(self.client, name)

    shards = {
        "shard-0": kinesis_event([sale(10, invoice_no="536365")], shard="shardId-000000000000"),
        "shard-1": kinesis_event([sale(11, invoice_no="536366", country="EIRE")], shard="shardId-000000000001"),
    }
    results: dict = {}

    def poll(name):
        results[name] = project.Projector(Together(dynamodb), "invoice", "customer").process(shards[name]["Records"])

    threads = [threading.Thread(target=poll, args=(name,)) for name in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {"shard-0": [], "shard-1": []}
    customer = get(dynamodb, "customer", "customer_id", "17850")
    assert customer["invoice_count"] == 2 and customer["countries"] == ["EIRE", "United Kingdom"]


def test_a_customer_with_thousands_of_invoices_is_served_whole(dynamodb):
    lines = [sale(n, invoice_no=f"{600000 + n}") for n in range(2, 4302)]
    for start in range(0, 4300, 1000):
        assert project.handler(kinesis_event(lines[start:start + 1000]), None) == {"batchItemFailures": []}
    customer = get(dynamodb, "customer", "customer_id", "17850")
    assert customer["invoice_count"] == 4300 and customer["quantity"] == 6 * 4300
    # what one customer item holding every invoice summary would weigh: past the item limit
    summaries = {i["invoice_no"]["S"]: {k: v for k, v in i.items() if k not in ("customer_id", "invoice_no")}
                 for i in scan(dynamodb, "customer")}
    assert item_size({"customer_id": "17850", "invoices": _plain(summaries)}) > MAX_ITEM_BYTES


def _plain(raw):
    from boto3.dynamodb.types import TypeDeserializer

    return {no: {k: TypeDeserializer().deserialize(v) for k, v in s.items()} for no, s in raw.items()}


def test_missing_table_names_fail_the_whole_batch(dynamodb, monkeypatch):
    monkeypatch.delenv("CUSTOMER_TABLE")
    with pytest.raises(RuntimeError, match="CUSTOMER_TABLE"):
        project.handler(kinesis_event([sale(2)]), None)
    assert scan(dynamodb, "invoice") == []
