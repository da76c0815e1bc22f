"""moto 5.2.1's response writing, stock vs patched, in-process with `mock_aws`.

DynamoDB (emulation.moto.patches.dynamodb): the same calls on the same data must give equivalent
JSON bodies from moto's serializer and from orjson (compared parsed, as every SDK reads them).
Every response (emulation.moto.patches.responses): the request-id regex is skipped only where it
cannot match."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulation.moto.patches import dynamodb as patch

EVERY_TYPE = {
    "pk": {"S": "k1"}, "sk": {"N": "1"},
    "s": {"S": "héllo \u2603"}, "n": {"N": "-12.50"}, "b": {"B": b"\x00\xffbinary"},
    "bool": {"BOOL": False}, "null": {"NULL": True},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]},
    "l": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x03"}, {"L": [{"NULL": True}]}]},
    "m": {"M": {"inner": {"M": {"b": {"B": b"\x04"}, "n": {"N": "7"}}}, "s": {"S": ""}}},
}


def _scenario() -> list[tuple[str, object]]:
    """Every patched operation (and an error) on items of every attribute type; raw bodies."""
    bodies: list[tuple[str, object]] = []
    client = boto3.client("dynamodb", region_name="us-east-1")

    def keep(http_response, model, **_):
        bodies.append((model.name, json.loads(http_response.content or b"{}")))

    client.meta.events.register("after-call.dynamodb", keep)
    client.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}])
    client.put_item(TableName="t", Item=EVERY_TYPE)
    client.put_item(TableName="t", Item={**EVERY_TYPE, "s": {"S": "new"}}, ReturnValues="ALL_OLD",
                    ReturnConsumedCapacity="TOTAL")
    client.get_item(TableName="t", Key={"pk": {"S": "k1"}, "sk": {"N": "1"}}, ConsistentRead=True)
    client.get_item(TableName="t", Key={"pk": {"S": "nope"}, "sk": {"N": "1"}})
    client.batch_write_item(RequestItems={"t": [
        {"PutRequest": {"Item": {**EVERY_TYPE, "sk": {"N": str(i)}}}} for i in range(2, 6)]},
        ReturnConsumedCapacity="TOTAL")
    client.batch_get_item(RequestItems={"t": {
        "Keys": [{"pk": {"S": "k1"}, "sk": {"N": str(i)}} for i in range(1, 8)],
        "ProjectionExpression": "pk, sk, b, m.inner"}})
    client.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "k1"}},
                 Limit=2, ReturnConsumedCapacity="INDEXES")
    client.scan(TableName="t", Limit=3)
    client.scan(TableName="t", Select="COUNT")
    client.update_item(TableName="t", Key={"pk": {"S": "k1"}, "sk": {"N": "2"}},
                       UpdateExpression="SET n = n + :one, extra = :b", ReturnValues="ALL_NEW",
                       ExpressionAttributeValues={":one": {"N": "1"}, ":b": {"B": b"\x09"}})
    client.delete_item(TableName="t", Key={"pk": {"S": "k1"}, "sk": {"N": "3"}}, ReturnValues="ALL_OLD")
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {**EVERY_TYPE, "sk": {"N": "9"}}}}])
    client.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": {"pk": {"S": "k1"}, "sk": {"N": "9"}}}}])
    with pytest.raises(ClientError):  # errors keep moto's serializer
        client.put_item(TableName="t", Item=EVERY_TYPE, ConditionExpression="attribute_not_exists(pk)")
    client.describe_table(TableName="t")  # not patched: datetimes, table shapes
    return bodies


def _run(patched: bool) -> list[tuple[str, object]]:
    patch.apply() if patched else patch.revert()
    try:
        with mock_aws():
            return _scenario()
    finally:
        patch.revert()


def _comparable(bodies):
    out = []
    for name, body in bodies:
        for table in (body.get("Table"), body.get("TableDescription")):  # not patched; times differ
            if table:
                table.pop("CreationDateTime", None)
        out.append((name, body))
    return out


def test_patched_bodies_equal_moto_serializer_bodies(monkeypatch):
    fast_path_calls = []
    write = patch.serialize_item_result
    monkeypatch.setattr(patch, "serialize_item_result",
                        lambda *a: fast_path_calls.append(1) or write(*a))  # proves the patched run used it
    stock = _comparable(_run(False))
    assert not fast_path_calls
    patched = _comparable(_run(True))
    assert len(fast_path_calls) == 13  # the scenario's successful item operations
    assert [name for name, _ in patched] == [name for name, _ in stock]
    for (name, want), (_, got) in zip(stock, patched):
        assert got == want, name
    assert any(name == "BatchGetItem" for name, _ in stock)


def test_binary_and_datetime_are_encoded_as_the_json_protocol_does():
    import datetime

    body = json.loads(patch.serialize_item_result(
        {"Item": {"b": {"B": b"\x00\x01"}}, "When": datetime.datetime(2020, 1, 1), "Gone": None}))
    assert body == {"Item": {"b": {"B": "AAE="}}, "When": 1577836800.0}
    with pytest.raises(TypeError, match="set"):
        patch.serialize_item_result({"x": {1, 2}})


def test_the_patch_is_in_the_server_list():
    from emulation.registry import MOTO_PATCHES

    assert "emulation.moto.patches.dynamodb" in MOTO_PATCHES


def test_request_id_regex_runs_only_where_it_can_match():
    from emulation.moto.patches import responses

    responses.apply()
    try:
        from moto.core.responses import BaseResponse

        headers, body = BaseResponse._enrich_response({"status": 200}, '{"Records": []}')
        assert body == '{"Records": []}' and headers["status"] == "200" and len(headers["x-amzn-requestid"]) == 52
        headers, body = BaseResponse._enrich_response({}, "<r><RequestId>old</RequestId></r>")
        assert body == f"<r><RequestId>{headers['x-amzn-requestid']}</RequestId></r>"
        assert BaseResponse._enrich_response({}, b"<RequestId>x</RequestId>")[1] == b"<RequestId>x</RequestId>"
    finally:
        responses.revert()
