"""emulation.apigateway.proxy: the REST proxy event and the proxy response mapping."""

import json
from pathlib import Path

import pytest

from emulation.apigateway.proxy import (
    ApiIdentity,
    Caller,
    MalformedProxyResponse,
    proxy_event,
    proxy_response,
)
from emulation.apigateway.routing import RouteMatch, RouteSpec

# AWS's documented sample of the REST API proxy event ("Input format of a Lambda function for proxy
# integration", API Gateway developer guide), with `clientCert` null as sent without mutual TLS.
SAMPLE = json.loads((Path(__file__).parents[1] / "integration/api_handlers/documented_proxy_event.json").read_text())
IDENTITY = ApiIdentity("123456789012", "abc123defg", "v1", "abc123defg.execute-api.us-east-1.amazonaws.com")
ROUTE = RouteSpec("GET", "/orders/{order_id}", "echo", True, None, resource_id="res42")


def _event(query="a=1&a=2&b=", headers=(("Host", "x"), ("Accept", "1"), ("Accept", "2")), body=b""):
    return proxy_event(IDENTITY, RouteMatch(ROUTE, {"order_id": "C536 379"}), "GET", "/v1/orders/C536%20379",
                       query, list(headers), body, Caller("127.0.0.1", "pytest", "secret", "key1"),
                       request_id="req-1", now=1583349317.135)


def _keys(doc, prefix=""):
    out = set()
    for k, v in doc.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k in ("requestContext", "identity"):
            out |= _keys(v, prefix + k + ".")
    return out


def test_event_has_exactly_the_documented_keys_plus_the_api_key_identity():
    assert _keys(_event()) == _keys(SAMPLE) | {"requestContext.identity.apiKey", "requestContext.identity.apiKeyId"}


def test_event_values():
    event = _event()
    assert event["resource"] == "/orders/{order_id}"
    assert event["path"] == "/orders/C536%20379"
    assert event["pathParameters"] == {"order_id": "C536 379"}
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"]["Accept"] == "2" and event["multiValueHeaders"]["Accept"] == ["1", "2"]
    ctx = event["requestContext"]
    assert ctx["path"] == "/v1/orders/C536%20379" and ctx["stage"] == "v1" and ctx["resourceId"] == "res42"
    assert ctx["requestTimeEpoch"] == 1583349317135 and ctx["requestTime"] == "04/Mar/2020:19:15:17 +0000"
    assert ctx["identity"]["apiKey"] == "secret" and ctx["identity"]["apiKeyId"] == "key1"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_no_query_string_means_null_maps():
    event = _event(query="")
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_binary_body_is_base64():
    event = _event(body=b"\xff\x00")
    assert event["isBase64Encoded"] is True and event["body"] == "/wA="


def test_response_mapping_merges_headers_multi_value_wins():
    response = proxy_response({"statusCode": 201, "headers": {"X-A": "1", "X-B": 2},
                               "multiValueHeaders": {"X-A": ["x", "y"]}, "body": "hé"})
    assert response.status == 201 and response.body == "hé".encode()
    assert sorted(response.headers) == [("Content-Type", "application/json"), ("X-A", "x"), ("X-A", "y"), ("X-B", "2")]


def test_base64_response_body_is_decoded():
    assert proxy_response({"statusCode": 200, "isBase64Encoded": True, "body": "/wA="}).body == b"\xff\x00"


@pytest.mark.parametrize("payload,needle", [
    (["statusCode", 200], "returned a list"),
    ({"body": "{}"}, "statusCode None"),
    ({"statusCode": 200, "body": {"a": 1}}, "body is a dict"),
    ({"statusCode": 200, "cookies": []}, "unknown keys"),
    ({"statusCode": 99}, "statusCode 99"),
    ({"statusCode": 200, "headers": {"X": {"a": 1}}}, "header 'X'"),
    ({"statusCode": 200, "multiValueHeaders": {"X": "a"}}, "must be a list"),
    ({"statusCode": 200, "isBase64Encoded": True, "body": "%%%"}, "not base64"),
    ("not json", "not JSON"),
])
def test_malformed_responses(payload, needle):
    with pytest.raises(MalformedProxyResponse, match=needle):
        proxy_response(payload)
