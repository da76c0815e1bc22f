"""emulation.apigateway.service over real HTTP, with a fake Lambda service (the integration tests use the real one)."""

import json
import socket
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from emulation.apigateway.keys import ApiDirectory, ApiKeyRecord
from emulation.apigateway.service import build_gateway
from emulation.apigateway.throttle import PlanLimits
from emulation.config import CloudConfig
from tests.integration.test_resources_api import QUOTA, RESOURCES, TIGHT

KEY = "k" * 40
GOOD = {"orders": [{"order_id": "536365", "quantity": 6, "price": "2.55"}]}


@dataclass
class Result:
    payload: object
    error: dict | None = None
    duration_ms: float = 1.0
    request_id: str = "r"
    cold_start: bool = False


class FakeLambda:
    """Records invocations; answers like tests/integration/api_handlers."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.delay = 0.0

    def invoke(self, name, event):
        with self.lock:
            self.calls.append((name, event))
        if self.delay:
            time.sleep(self.delay)
        if name == "broken":
            mode = event["pathParameters"]["mode"]
            if mode == "raise":
                return Result(None, {"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": []})
            if mode == "timeout":
                return Result(None, {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"})
            return Result({"statusCode": 200, "body": {"not": "a string"}})
        return Result({"statusCode": 200, "headers": {"X-Echo": "yes"}, "body": json.dumps({"event": event})})


def _serve(resources, fake, tmp_path, **overrides):
    plan = resources.api.usage_plan
    limits = PlanLimits(plan.rate_limit, plan.burst_limit, plan.quota_limit, plan.quota_period)
    directory = ApiDirectory("abcdefghij", {"/orders": "r0"}, {KEY: ApiKeyRecord("kid1", "test-client", limits)})
    config = CloudConfig.on_free_ports(tmp_path)
    gateway = build_gateway(config, resources, fake.invoke, directory)
    for k, v in overrides.items():
        setattr(gateway, k, v)
    gateway.serve("127.0.0.1", config.api_port)
    return gateway, f"http://127.0.0.1:{config.api_port}/{resources.api.stage}"


@pytest.fixture
def api(tmp_path):
    fake = FakeLambda()
    gateway, base = _serve(RESOURCES, fake, tmp_path)
    with httpx.Client(base_url=base, headers={"x-api-key": KEY}, timeout=10) as client:
        yield client, fake
    gateway.shutdown()


def _assert_gateway_error(response, status, message, error_type=None):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == message
    assert response.headers["x-amzn-RequestId"]
    if error_type:
        assert response.headers["x-amzn-ErrorType"] == error_type


def test_valid_request_reaches_the_function_with_params_and_query(api):
    client, fake = api
    r = client.get("/orders/C536379", params=[("x", "1"), ("x", "2")], headers={"X-Trace": "t"})
    assert r.status_code == 200 and r.headers["X-Echo"] == "yes"
    name, event = fake.calls[-1]
    assert name == "echo"
    assert event["pathParameters"] == {"order_id": "C536379"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["X-Trace"] == "t"
    assert event["requestContext"]["identity"]["apiKeyId"] == "kid1"
    assert event["requestContext"]["apiId"] == "abcdefghij"


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "nope"}, {"x-api-key": ""}])
def test_missing_or_unknown_key_is_403_forbidden_and_invokes_nothing(api, headers):
    client, fake = api
    with httpx.Client(base_url=client.base_url, headers=headers) as anonymous:
        r = anonymous.post("/orders", json=GOOD)
    _assert_gateway_error(r, 403, "Forbidden", "ForbiddenException")
    assert fake.calls == []


def test_route_without_key_requirement_needs_no_key(api):
    client, fake = api
    with httpx.Client(base_url=client.base_url) as anonymous:
        assert anonymous.get("/public").status_code == 200
    assert fake.calls[-1][1]["requestContext"]["identity"]["apiKey"] is None


@pytest.mark.parametrize("method,path", [("GET", "/nowhere"), ("DELETE", "/orders"), ("GET", "/orders")])
def test_unknown_route_or_method_is_missing_authentication_token(api, method, path):
    client, fake = api
    r = client.request(method, path)
    _assert_gateway_error(r, 403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    assert fake.calls == []


def test_wrong_stage_is_missing_authentication_token(api):
    client, fake = api
    r = client.get(str(client.base_url).replace("/test", "/prod") + "/public")
    _assert_gateway_error(r, 403, "Missing Authentication Token")


def test_invalid_body_is_400_naming_the_fields(api):
    client, fake = api
    bad = {"orders": [{"order_id": "536365", "quantity": "six"}]}
    r = client.post("/orders", json=bad)
    _assert_gateway_error(r, 400, "Invalid request body", "BadRequestException")
    assert {e["path"] for e in r.json()["errors"]} == {"/orders/0/quantity", "/orders/0/price"}
    assert fake.calls == []


def test_non_json_body_is_400(api):
    client, fake = api
    r = client.post("/orders", content=b"orders=1", headers={"Content-Type": "application/json"})
    _assert_gateway_error(r, 400, "Invalid request body")
    assert fake.calls == []


def test_wrong_content_type_is_415(api):
    client, fake = api
    r = client.post("/orders", content=json.dumps(GOOD), headers={"Content-Type": "text/csv"})
    _assert_gateway_error(r, 415, "Unsupported Media Type")
    assert fake.calls == []


def test_body_over_the_limit_is_413_and_the_connection_is_closed(api):
    client, fake = api
    r = client.post("/orders", content=b"x" * (RESOURCES.api.max_body_bytes + 1),
                    headers={"Content-Type": "application/json"})
    _assert_gateway_error(r, 413, "Request Too Long")
    assert r.headers["connection"] == "close"
    assert fake.calls == []
    assert client.post("/orders", json=GOOD).status_code == 200  # a new connection works


def test_chunked_body_over_the_limit_is_413(api):
    client, fake = api

    def chunks():
        for _ in range(10):
            yield b"y" * 1000

    r = client.post("/orders", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_gateway_error(r, 413, "Request Too Long")
    assert fake.calls == []


def test_chunked_valid_body_is_accepted(api):
    client, fake = api
    r = client.post("/orders", content=iter([json.dumps(GOOD).encode()]))
    assert r.status_code == 200 and json.loads(fake.calls[-1][1]["body"]) == GOOD


@pytest.mark.parametrize("mode", ["raise", "timeout", "malformed"])
def test_function_failures_are_502_internal_server_error(api, mode):
    client, _ = api
    _assert_gateway_error(client.get(f"/broken/{mode}"), 502, "Internal server error")


def test_throttle_is_429_too_many_requests_after_the_burst(tmp_path):
    fake = FakeLambda()
    gateway, base = _serve(TIGHT, fake, tmp_path)
    try:
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}) as client:
            codes = [client.get("/noop").status_code for _ in range(6)]
            r = client.get("/noop")
    finally:
        gateway.shutdown()
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    _assert_gateway_error(r, 429, "Too Many Requests", "TooManyRequestsException")
    assert len(fake.calls) == codes.count(200)


def test_quota_is_429_limit_exceeded(tmp_path):
    fake = FakeLambda()
    gateway, base = _serve(QUOTA, fake, tmp_path)
    try:
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}) as client:
            codes = [client.get("/noop").status_code for _ in range(4)]
            r = client.get("/noop")
    finally:
        gateway.shutdown()
    assert codes == [200] * 4
    _assert_gateway_error(r, 429, "Limit Exceeded", "LimitExceededException")
    assert len(fake.calls) == 4


def test_slow_function_is_504_after_the_integration_timeout(tmp_path):
    fake = FakeLambda()
    fake.delay = 1.0
    gateway, base = _serve(RESOURCES, fake, tmp_path, integration_timeout_s=0.2,
                           function_timeouts={"echo": 10.0})
    try:
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}) as client:
            r = client.get("/orders/536365")
    finally:
        gateway.shutdown()
    _assert_gateway_error(r, 504, "Endpoint request timed out")


def test_keep_alive_serves_many_requests_on_one_connection(api):
    client, _ = api
    port = client.base_url.port
    sock = socket.create_connection(("127.0.0.1", port))
    request = (f"GET /test/orders/1 HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n\r\n").encode()
    try:
        for _ in range(3):
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            while len(rest) < length:
                rest += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_unknown_key_triggers_one_reload_that_can_admit_it(tmp_path):
    from emulation.apigateway.keys import ApiKeyStore

    record = ApiKeyRecord("new", "late", PlanLimits(10, 10))
    reloads = []

    def reload():
        reloads.append(1)
        return {"late-key": record}

    now = [100.0]
    store = ApiKeyStore({}, reload, clock=lambda: now[0])
    assert store.lookup("late-key") == record
    assert store.lookup("never") is None  # within the refresh interval: no second read
    assert len(reloads) == 1
    now[0] += 5
    assert store.lookup("never") is None
    assert len(reloads) == 2


# -- framing: what a request's head says about its body -------------------------------------------

def _head(*pairs):
    from email.message import Message

    message = Message()
    for name, value in pairs:
        message[name] = value
    return message


@pytest.mark.parametrize("pairs,expected", [
    ([], 0),
    ([("Content-Length", "263")], 263),
    ([("Content-Length", "263"), ("Content-Length", "263")], 263),
    ([("Content-Length", "263, 0263")], 263),
    ([("Transfer-Encoding", "chunked")], -1),
    ([("Transfer-Encoding", "Chunked ")], -1),
])
def test_body_length_accepts_one_decimal_count_or_chunked(pairs, expected):
    from emulation.apigateway.transport import body_length

    assert body_length(_head(*pairs), 10_000) == expected


@pytest.mark.parametrize("pairs,needle", [
    ([("Content-Length", "-1")], "not a byte count"),
    ([("Content-Length", "+263")], "not a byte count"),
    ([("Content-Length", "0x107")], "not a byte count"),
    ([("Content-Length", "2_63")], "not a byte count"),
    ([("Content-Length", "")], "not a byte count"),
    ([("Content-Length", "263"), ("Content-Length", "264")], "different values"),
    ([("Content-Length", "263, 264")], "different values"),
    ([("Transfer-Encoding", "chunked"), ("Content-Length", "263")], "both"),
    ([("Transfer-Encoding", "gzip, chunked")], "not supported"),
    ([("Transfer-Encoding", "identity")], "not supported"),
])
def test_body_length_refuses_framing_that_cannot_be_trusted(pairs, needle):
    from emulation.apigateway.transport import BadFraming, body_length

    with pytest.raises(BadFraming, match=needle):
        body_length(_head(*pairs), 10_000)


@pytest.mark.parametrize("length", ["10001", "9" * 40])
def test_body_length_over_the_limit_is_request_too_long(length):
    from emulation.apigateway.transport import RequestTooLong, body_length

    with pytest.raises(RequestTooLong):
        body_length(_head(("Content-Length", length)), 10_000)


@pytest.mark.parametrize("wire,needle", [
    (b"-5\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"0x5\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"+5\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"5\r\nhelloXX0\r\n\r\n", "CRLF"),
    (b"5\r\nhel", "closed inside a chunk"),
])
def test_read_chunked_refuses_bad_chunks(wire, needle):
    import io

    from emulation.apigateway.transport import BadFraming, read_chunked

    with pytest.raises(BadFraming, match=needle):
        read_chunked(io.BytesIO(wire), 10_000)


def test_read_chunked_joins_chunks_and_skips_extensions_and_trailers():
    import io

    from emulation.apigateway.transport import read_chunked

    wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    assert read_chunked(io.BytesIO(wire), 10_000) == b"hello world"


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_any_method_token_reaches_the_route_table(api, method):
    client, fake = api
    r = client.request(method, "/orders", content=json.dumps(GOOD))
    _assert_gateway_error(r, 403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    assert fake.calls == []
