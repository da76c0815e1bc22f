"""The write-unit meter of `python -m bench dynamodb`: DynamoDB's documented size and charging
rules (developer guide, "DynamoDB item sizes and formats", "DynamoDB read and write operations")."""

from __future__ import annotations

import pytest

from bench.dynamodb import Meter, item_size, number_size, write_units


@pytest.mark.parametrize("text, size", [
    ("0", 2), ("7", 2), ("12", 2), ("123", 3), ("123.450", 4), ("0.001", 2), ("1000", 2),
    ("-12", 3), ("12345678901234567890", 11),
])
def test_number_size_is_one_byte_per_two_significant_digits_plus_one(text, size):
    assert number_size(text) == size


def test_item_size_counts_names_values_and_container_overhead():
    item = {
        "id": {"S": "abc"},                                  # 2 + 3
        "n": {"N": "-1.5"},                                  # 1 + (1 + 1 + 1)
        "ok": {"BOOL": True}, "no": {"NULL": True},          # (2 + 1) x 2
        "l": {"L": [{"S": "é"}, {"N": "10"}]},               # 1 + 3 + (2 + 1) + (2 + 1)
        "m": {"M": {"k": {"S": "v"}}},                       # 1 + 3 + (1 + 1 + 1)
        "e": {"M": {}},                                      # 1 + 3
    }
    assert item_size(item) == 5 + 4 + 6 + 10 + 7 + 4


def test_write_units_round_each_started_kilobyte_up():
    assert [write_units(s) for s in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]


def _put(key: str, size: int) -> dict:
    body = "x" * (size - len("invoice_no") - len(key) - len("b") - 4)
    item = {"invoice_no": {"S": key}, "b": {"S": body}}
    assert item_size(item) == size - 4
    return item


def test_meter_charges_replacements_on_the_larger_item_and_failed_conditions():
    meter = Meter({"invoice": ("invoice_no",)})
    big, small = _put("1", 2000), _put("1", 500)
    meter.record("PutItem", {"TableName": "invoice", "Item": big}, 200, {})        # 2 units
    meter.record("PutItem", {"TableName": "invoice", "Item": small}, 200, {})      # max(2000, 500): 2
    meter.record("PutItem", {"TableName": "invoice", "Item": small}, 400,
                 {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"})  # existing 500: 1
    batch = {"RequestItems": {"invoice": [{"PutRequest": {"Item": _put("2", 3000)}},
                                          {"PutRequest": {"Item": _put("3", 100)}}]}}
    unprocessed = {"UnprocessedItems": {"invoice": [{"PutRequest": {"Item": _put("3", 100)}}]}}
    meter.record("BatchWriteItem", batch, 200, unprocessed)                        # 3 (item 3 not written)
    assert meter.units == {"invoice": 2 + 2 + 1 + 3}
    assert meter.writes == {"invoice": 3} and meter.failed_conditions == 1


def test_meter_charges_reads_per_started_4_kb_and_missing_keys_at_the_minimum():
    meter = Meter({"invoice": ("invoice_no",)})
    request = {"RequestItems": {"invoice": {"ConsistentRead": True, "Keys": [
        {"invoice_no": {"S": k}} for k in "1234"]}}}
    reply = {"Responses": {"invoice": [_put("1", 5000), _put("2", 100)]},
             "UnprocessedKeys": {"invoice": {"Keys": [{"invoice_no": {"S": "4"}}]}}}
    meter.record("BatchGetItem", request, 200, reply)   # 2 + 1 + (key 3 missing) 1; key 4 not read
    meter.record("GetItem", {"TableName": "invoice", "Key": {}}, 200, {"Item": _put("1", 100)})
    assert meter.reads == {"invoice": 2 + 1 + 1 + 0.5}  # GetItem without ConsistentRead: half


def test_meter_charges_an_update_like_a_put_of_the_item_it_leaves():
    meter = Meter({"invoice": ("invoice_no",)})
    key = {"invoice_no": {"S": "1"}}
    meter.record("UpdateItem", {"TableName": "invoice", "Key": key}, 200, {}, after=_put("1", 1500))  # 2
    meter.record("UpdateItem", {"TableName": "invoice", "Key": key}, 200, {}, after=_put("1", 3000))  # 3
    meter.record("UpdateItem", {"TableName": "invoice", "Key": key}, 400,
                 {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"})   # on 3000: 3
    assert meter.units == {"invoice": 2 + 3 + 3}
    assert meter.writes == {"invoice": 2} and meter.failed_conditions == 1


def test_meter_refuses_writes_it_cannot_charge():
    meter = Meter({"invoice": ("invoice_no",)})
    with pytest.raises(ValueError, match="DeleteItem"):
        meter.record("DeleteItem", {}, 200, {})
