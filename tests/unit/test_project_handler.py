"""The projector Lambda against moto's in-process DynamoDB (real boto3 calls, real limits)."""

from __future__ import annotations

import threading
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipeline.events import parse_event
from pipeline.handlers import project
from pipeline.resources import PIPELINE
from tests.unit.stream_records import REGION, kinesis_event, sequences

DIGEST = "00aa11bb22cc33dd"


def sale(line, invoice_no="536365", **fields):
    data = {
        "event_id": f"{DIGEST}:{line}",
        "invoice_no": invoice_no,
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER",
        "quantity": 6,
        "invoice_date": "2010-12-01T08:26:00",
        "unit_price": "2.55",
        "customer_id": "17850",
        "country": "United Kingdom",
    }
    data.update(fields)
    return parse_event(data).to_record_bytes()


@pytest.fixture
def dynamodb(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("INVOICE_TABLE", "invoice")
    monkeypatch.setenv("CUSTOMER_TABLE", "customer")
    monkeypatch.setattr(project, "BASE_DELAY_S", 0.001)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for table in PIPELINE.tables:
            client.create_table(
                TableName=table.name,
                KeySchema=[{"AttributeName": table.partition_key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": table.partition_key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        project.use_dynamodb_client(client)
        yield client
        project.use_dynamodb_client(None)


def get(client, table, key, value):
    from boto3.dynamodb.types import TypeDeserializer

    raw = client.get_item(TableName=table, Key={key: {"S": value}}, ConsistentRead=True).get("Item")
    return None if raw is None else {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


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
    assert set(customer["invoices"]) == {"536365", "C536379"}
    assert customer["countries"] == ["EIRE", "United Kingdom"] and customer["country"] == "EIRE"
    assert customer["revenue"] == Decimal("14.45") and customer["cancellation_count"] == 1
    assert len(scan(dynamodb, "customer")) == 1  # the guest sale made no customer


def test_redelivery_and_overlapping_batches_leave_items_exactly_as_once(dynamodb):
    lines = [sale(n, invoice_no=f"5363{n % 3:02d}") for n in range(2, 12)]
    project.handler(kinesis_event(lines), None)
    once = scan(dynamodb, "invoice"), scan(dynamodb, "customer")
    project.handler(kinesis_event(lines), None)  # the whole batch again
    project.handler(kinesis_event(lines[3:7] + lines[:2]), None)  # a bisected, reordered retry
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


def test_largest_invoice_is_stored_and_an_impossible_one_is_reported(dynamodb):
    big = [sale(n, invoice_no="573585", customer_id=None, stock_code="BANK CHARGES",
                description="X" * 36, unit_price="-11062.06") for n in range(100_000, 101_114)]
    assert project.handler(kinesis_event(big), None) == {"batchItemFailures": []}
    assert get(dynamodb, "invoice", "invoice_no", "573585")["line_count"] == 1114
    # 2,000 lines of 255-character descriptions cannot fit in 400 KB: reported, not retried forever
    huge = kinesis_event([sale(n, invoice_no="573586", description="Y" * 255) for n in range(2, 2002)])
    response = project.handler(huge, None)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == sequences(huge)
    assert get(dynamodb, "invoice", "invoice_no", "573586") is None


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


class RacingClient:
    """Makes two projectors read the same customer before either writes it.

    Both threads pass a barrier after their first customer read, so their conditional puts race.
    Puts are serialized with a lock: DynamoDB applies a conditional write atomically, moto's
    in-process backend does not promise that across threads.
    """

    def __init__(self, client, barrier, lock, conflicts):
        self.client, self.barrier, self.lock, self.conflicts = client, barrier, lock, conflicts
        self.raced = False

    def batch_get_item(self, RequestItems):
        response = self.client.batch_get_item(RequestItems=RequestItems)
        if "customer" in RequestItems and not self.raced:
            self.raced = True
            self.barrier.wait(timeout=10)
        return response

    def put_item(self, **kwargs):
        with self.lock:
            try:
                return self.client.put_item(**kwargs)
            except ClientError as exc:
                self.conflicts.append(exc.response["Error"]["Code"])
                raise

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.mark.parametrize("existing", [False, True], ids=["new-customer", "existing-customer"])
def test_concurrent_customer_writes_retry_and_lose_nothing(dynamodb, existing):
    if existing:
        project.handler(kinesis_event([sale(2, invoice_no="536300")]), None)
    barrier, lock, conflicts = threading.Barrier(2), threading.Lock(), []
    shards = {
        "shard-0": kinesis_event([sale(10, invoice_no="536365")], shard="shardId-000000000000"),
        "shard-1": kinesis_event([sale(11, invoice_no="536366", country="EIRE")], shard="shardId-000000000001"),
    }
    results: dict = {}

    def poll(name):
        racing = RacingClient(dynamodb, barrier, lock, conflicts)
        results[name] = project.Projector(racing, "invoice", "customer").process(shards[name]["Records"])

    threads = [threading.Thread(target=poll, args=(name,)) for name in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {"shard-0": [], "shard-1": []}
    assert conflicts == ["ConditionalCheckFailedException"]  # exactly one lost the race and retried
    customer = get(dynamodb, "customer", "customer_id", "17850")
    expected = {"536365", "536366"} | ({"536300"} if existing else set())
    assert set(customer["invoices"]) == expected
    assert customer["invoice_count"] == len(expected) and customer["countries"] == ["EIRE", "United Kingdom"]


def test_missing_table_names_fail_the_whole_batch(dynamodb, monkeypatch):
    monkeypatch.delenv("CUSTOMER_TABLE")
    with pytest.raises(RuntimeError, match="CUSTOMER_TABLE"):
        project.handler(kinesis_event([sale(2)]), None)
    assert scan(dynamodb, "invoice") == []
