"""The API gateway end to end: a real moto server over HTTP, the provisioning step, the runtime's
real Lambda service (worker processes running tests/integration/api_handlers) and real HTTP.
"""

from __future__ import annotations

import json
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from emulation.config import CloudConfig
from emulation.control.runtime import Runtime
from emulation.naming import LocalNames
from emulation.provision import api as provision_api

from . import test_resources_api as described

pytestmark = pytest.mark.embedded_only(
    reason=(
        "starts its own moto server and an in-process runtime serving test APIs (api_handlers) "
        "with their own keys and usage plans"
    )
)

SAMPLE = json.loads((Path(__file__).parent / "api_handlers/documented_proxy_event.json").read_text())
GOOD = {"orders": [{"order_id": "536365", "quantity": 6, "price": "2.55", "note": None}]}


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    config = CloudConfig.on_free_ports(tmp_path_factory.mktemp("moto"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=config.aws_port, verbose=False)
    server.start()
    yield config.aws_port
    server.stop()


@contextmanager
def running_cloud(tmp_path: Path, aws_port: int, name: str):
    resources = getattr(described, name)
    config = CloudConfig.on_free_ports(tmp_path, resources=f"{described.__name__}:{name}")
    config.aws_port = aws_port
    config.save()
    provision_api.provision(config, resources, LocalNames(resources, config.region))
    runtime = Runtime(config, only={"lambda", "api"})
    runtime.start()
    try:
        yield config, runtime, provision_api.read_api_key(config.state_dir, resources)
    finally:
        runtime.stop()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, moto_endpoint):
    with running_cloud(tmp_path_factory.mktemp("api"), moto_endpoint, "RESOURCES") as running:
        yield running


@pytest.fixture
def client(cloud):
    config, _, key = cloud
    with httpx.Client(base_url=f"{config.api_url}/test", headers={"x-api-key": key}, timeout=30) as c:
        yield c


def _apigw(config):
    return boto3.client("apigateway", endpoint_url=config.aws_endpoint, region_name=config.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _invocations(client) -> int:
    """How many times the single warm `echo` environment has run (its module-level counter)."""
    r = client.get("/orders/000000")
    assert r.status_code == 200
    return r.json()["invocations"] - 1  # this probe itself is one


# -- provisioning ---------------------------------------------------------------------------------

def test_provisioned_key_is_listed_by_the_api_and_kept_private_on_disk(cloud):
    config, _, key = cloud
    listed = _apigw(config).get_api_keys(includeValues=True)["items"]
    assert key in {k["value"] for k in listed if k["name"] == "test-client"}
    assert len(key) == 40 and key.isalnum()
    key_path = config.state_dir / "api_key"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    # Nothing else in the state folder (config, logs, lambda logs) holds the value.
    others = [p for p in config.state_dir.rglob("*") if p.is_file() and p != key_path]
    assert others and not [p for p in others if key.encode() in p.read_bytes()]


def test_provisioning_again_changes_nothing(cloud):
    config, _, key = cloud
    resources = described.RESOURCES
    apigw = _apigw(config)
    before = (apigw.get_rest_apis()["items"], apigw.get_api_keys()["items"], apigw.get_usage_plans()["items"])
    ids = provision_api.provision(config, resources, LocalNames(resources, config.region))
    after = (apigw.get_rest_apis()["items"], apigw.get_api_keys()["items"], apigw.get_usage_plans()["items"])
    assert before == after
    assert provision_api.read_api_key(config.state_dir, resources) == key
    plan = apigw.get_usage_plan(usagePlanId=ids["usage_plan_id"])
    assert plan["throttle"] == {"burstLimit": 1000, "rateLimit": 1000.0}
    assert plan["quota"]["limit"] == 1_000_000 and plan["quota"]["period"] == "DAY"
    assert plan["apiStages"] == [{"apiId": ids["api_id"], "stage": "test"}]


def test_methods_require_keys_and_proxy_to_the_functions(cloud):
    config, _, _ = cloud
    apigw = _apigw(config)
    api_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "api-gateway-test")
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}
    post = apigw.get_method(restApiId=api_id, resourceId=resources["/orders"]["id"], httpMethod="POST")
    assert post["apiKeyRequired"] is True
    assert post["requestModels"] == {"application/json": "OrderBatch"}
    assert post["methodIntegration"]["type"] == "AWS_PROXY"
    assert post["methodIntegration"]["uri"].endswith(":function:echo/invocations")
    public = apigw.get_method(restApiId=api_id, resourceId=resources["/public"]["id"], httpMethod="GET")
    assert public["apiKeyRequired"] is False
    assert {m["name"] for m in apigw.get_models(restApiId=api_id)["items"]} == {"OrderBatch"}


# -- the proxy event and response -----------------------------------------------------------------

def _keys(doc, prefix=""):
    out = set()
    for k, v in doc.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k in ("requestContext", "identity"):
            out |= _keys(v, prefix + k + ".")
    return out


def test_event_matches_the_documented_sample_key_for_key(client):
    r = client.post("/orders", params={"dry": "1"}, json=GOOD)
    assert r.status_code == 200
    event = r.json()["event"]
    assert _keys(event) == _keys(SAMPLE) | {"requestContext.identity.apiKey", "requestContext.identity.apiKeyId"}
    assert json.loads(event["body"]) == GOOD
    assert event["resource"] == "/orders" and event["httpMethod"] == "POST"
    assert event["requestContext"]["stage"] == "test" and event["requestContext"]["resourceId"]
    assert event["requestContext"]["identity"]["apiKey"] == client.headers["x-api-key"]


def test_path_parameters_query_strings_and_response_headers_pass_through(client):
    r = client.get("/customers/12346/orders", params=[("page", "2"), ("tag", "a"), ("tag", "b c")])
    assert r.status_code == 200
    event = r.json()["event"]
    assert event["pathParameters"] == {"customer_id": "12346"}
    assert event["resource"] == "/customers/{customer_id}/orders"
    assert event["path"] == "/customers/12346/orders"
    assert event["queryStringParameters"] == {"page": "2", "tag": "b c"}
    assert event["multiValueQueryStringParameters"] == {"page": ["2"], "tag": ["a", "b c"]}
    assert r.headers["X-Echo"] == "yes"
    assert r.headers.get_list("X-Multi") == ["a", "b"]


def test_base64_response_is_decoded(client):
    r = client.get("/broken/binary")
    assert r.status_code == 201 and r.content == b"\x00\x01\xff"


@pytest.mark.parametrize("mode", ["raise", "not-a-dict", "no-status", "body-not-string", "extra-key"])
def test_function_errors_and_malformed_responses_are_502(client, mode):
    r = client.get(f"/broken/{mode}")
    assert r.status_code == 502 and r.json() == {"message": "Internal server error"}


# -- rejections: the right AWS answer, and nothing invoked ----------------------------------------

def test_rejected_requests_answer_as_aws_and_invoke_nothing(cloud, client):
    config, _, _ = cloud
    before = _invocations(client)
    base = f"{config.api_url}/test"
    with httpx.Client(base_url=base) as anonymous:
        missing = anonymous.post("/orders", json=GOOD)
        unknown = anonymous.post("/orders", json=GOOD, headers={"x-api-key": "x" * 40})
    invalid = client.post("/orders", json={"orders": [{"order_id": "12", "quantity": 1.5}], "x": 1})
    not_json = client.post("/orders", content=b"{orders:", headers={"Content-Type": "application/json"})
    wrong_type = client.post("/orders", content=json.dumps(GOOD), headers={"Content-Type": "text/plain"})
    too_long = client.post("/orders", content=b" " * 5000, headers={"Content-Type": "application/json"})
    no_route = client.get("/no/such/route")
    no_method = client.delete("/orders")

    assert (missing.status_code, missing.json()) == (403, {"message": "Forbidden"})
    assert (unknown.status_code, unknown.json()) == (403, {"message": "Forbidden"})
    assert invalid.status_code == 400 and invalid.json()["message"] == "Invalid request body"
    assert {e["path"] for e in invalid.json()["errors"]} == {
        "/x", "/orders/0/order_id", "/orders/0/quantity", "/orders/0/price"}
    assert not_json.status_code == 400 and not_json.json()["message"] == "Invalid request body"
    assert (wrong_type.status_code, wrong_type.json()["message"]) == (415, "Unsupported Media Type")
    assert (too_long.status_code, too_long.json()) == (413, {"message": "Request Too Long"})
    for r in (no_route, no_method):
        assert (r.status_code, r.json()) == (403, {"message": "Missing Authentication Token"})
        assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert _invocations(client) == before + 1  # only the probe ran


def test_a_key_added_with_the_aws_api_is_accepted_without_restart(cloud):
    config, _, _ = cloud
    apigw = _apigw(config)
    plan = next(p for p in apigw.get_usage_plans()["items"] if p["name"] == "api-gateway-test-plan")
    value = "LateKey" + "0" * 33
    with httpx.Client(base_url=f"{config.api_url}/test", headers={"x-api-key": value}) as late:
        assert late.get("/orders/1").status_code == 403
        key = apigw.create_api_key(name="late-client", enabled=True, value=value)
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        time.sleep(1.1)  # the gateway re-reads moto at most once a second
        assert late.get("/orders/1").status_code == 200


# -- usage plans ----------------------------------------------------------------------------------

def test_throttle_and_quota_are_429_with_aws_messages(tmp_path, moto_endpoint):
    with running_cloud(tmp_path / "tight", moto_endpoint, "TIGHT") as (config, _, key):
        with httpx.Client(base_url=f"{config.api_url}/test", headers={"x-api-key": key}, timeout=30) as c:
            answers = [c.get("/noop") for _ in range(6)]
    codes = [r.status_code for r in answers]
    assert codes[:3] == [200] * 3 and 429 in codes[3:]
    throttled = next(r for r in answers if r.status_code == 429)
    assert throttled.json() == {"message": "Too Many Requests"}
    assert throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"

    with running_cloud(tmp_path / "quota", moto_endpoint, "QUOTA") as (config, _, key):
        with httpx.Client(base_url=f"{config.api_url}/test", headers={"x-api-key": key}, timeout=30) as c:
            codes = [c.get("/noop").status_code for _ in range(4)]
            over = c.get("/noop")
    assert codes == [200] * 4
    assert (over.status_code, over.json()) == (429, {"message": "Limit Exceeded"})
    assert over.headers["x-amzn-ErrorType"] == "LimitExceededException"
