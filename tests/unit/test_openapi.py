"""pipeline.openapi: the REST API document derived from the resource description."""

import json
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

from pipeline.openapi import (
    build_openapi,
    function_from_integration_uri,
    lambda_integration_uri,
)
from pipeline.resources import PIPELINE
from tests.integration.test_resources_api import MODELS, RESOURCES


def test_every_route_is_an_aws_proxy_operation_with_key_and_validator():
    doc = build_openapi(RESOURCES, models=MODELS)
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert set(ops) == {(r.method, r.path) for r in RESOURCES.api.routes}
    post = ops[("POST", "/orders")]
    assert post["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert post["x-amazon-apigateway-integration"]["httpMethod"] == "POST"
    assert post["security"] == [{"api_key": []}]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderBatch"}
    validators = doc["x-amazon-apigateway-request-validators"]
    assert validators[post["x-amazon-apigateway-request-validator"]]["validateRequestBody"] is True
    assert "security" not in ops[("GET", "/public")]
    assert doc["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert doc["components"]["securitySchemes"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_path_parameters_are_declared_with_their_patterns():
    doc = build_openapi(PIPELINE)
    params = doc["paths"]["/invoices/{invoice_no}"]["get"]["parameters"]
    assert params == [{"name": "invoice_no", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": r"^[A-Z]?[0-9]{6}$"}},
                      {"name": "next", "in": "query", "required": False,
                       "schema": {"type": "string", "pattern": r"^[1-9][0-9]{0,5}\.[0-9a-f]{24}$"}}]


def test_integration_uri_is_the_callers_and_round_trips_to_the_function():
    doc = build_openapi(RESOURCES, integration_uri=lambda fn: lambda_integration_uri("eu-west-1", "111122223333", fn),
                        models=MODELS)
    uri = doc["paths"]["/noop"]["get"]["x-amazon-apigateway-integration"]["uri"]
    assert uri == ("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
                   "arn:aws:lambda:eu-west-1:111122223333:function:noop/invocations")
    assert function_from_integration_uri(uri) == "noop"
    default = build_openapi(RESOURCES, models=MODELS)["paths"]["/noop"]["get"]["x-amazon-apigateway-integration"]
    assert "${AWS::AccountId}" in default["uri"]


@pytest.mark.parametrize("bad", ["arn:aws:lambda:us-east-1:1:function:x", "https://example.com"])
def test_function_from_a_foreign_uri_names_the_uri(bad):
    with pytest.raises(ValueError, match="not a Lambda proxy integration URI"):
        function_from_integration_uri(bad)


def test_oas30_dialect_of_the_pipeline_api_is_valid_openapi():
    doc = build_openapi(PIPELINE, dialect="oas30")
    validate(doc)  # raises on any OpenAPI 3.0 violation
    event = doc["components"]["schemas"]["SaleEvent"]
    assert event["properties"]["customer_id"]["type"] == "string"
    assert event["properties"]["customer_id"]["nullable"] is True


def test_apigateway_dialect_keeps_draft4_types_and_hoists_definitions():
    doc = build_openapi(PIPELINE)
    schemas = doc["components"]["schemas"]
    assert schemas["SaleEvent"]["properties"]["customer_id"]["type"] == ["string", "null"]
    assert "definitions" not in schemas["SaleEventBatch"]
    assert "$schema" not in schemas["SaleEventBatch"]
    refs = json.dumps(schemas["SaleEventBatch"])
    assert "#/definitions/" not in refs and "#/components/schemas/SaleEvent" in refs


def test_a_route_naming_an_undefined_model_is_refused_with_both_names():
    with pytest.raises(ValueError, match=r"\['OrderBatch'\].*defines \['Other'\]"):
        build_openapi(RESOURCES, models={"Other": {"type": "object"}})


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="dialect 'swagger'"):
        build_openapi(RESOURCES, models=MODELS, dialect="swagger")


def test_cli_prints_the_document():
    out = subprocess.run([sys.executable, "-m", "pipeline.openapi", "--dialect", "oas30"],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["info"]["title"] == PIPELINE.api.name
    assert "/events" in doc["paths"]


def test_every_status_a_route_can_answer_is_documented_with_its_json_schema():
    doc = build_openapi(PIPELINE, dialect="oas30")
    for route in PIPELINE.api.routes:
        responses = doc["paths"][route.path][route.method.lower()]["responses"]
        expected = set(route.answers) | {"400", "403", "413", "414", "429", "431", "502", "504"}
        if route.request_model:
            expected.add("415")
        assert set(responses) == expected, (route.method, route.path)
        for code, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == ({"type": "object"} if code < "400" else {"$ref": "#/components/schemas/GatewayError"})
    gets = [r for r in PIPELINE.api.routes if r.method == "GET"]
    assert gets and all("404" in r.answers for r in gets)
    assert {"500", "503"} <= set(PIPELINE.api.routes[0].answers)


def test_query_parameters_are_declared_optional_with_the_patterns_the_function_checks():
    import re

    from pipeline.handlers.query import MAX_LIMIT

    doc = build_openapi(PIPELINE)
    params = {p["name"]: p for p in doc["paths"]["/customers/{customer_id}/invoices"]["get"]["parameters"]
              if p["in"] == "query"}
    assert set(params) == {"limit", "next"} and not any(p["required"] for p in params.values())
    limit = params["limit"]["schema"]["pattern"]
    accepted = [str(n) for n in range(0, MAX_LIMIT + 2) if re.fullmatch(limit, str(n))]
    assert accepted == [str(n) for n in range(1, MAX_LIMIT + 1)]
    assert re.fullmatch(limit, "0007") and not re.fullmatch(limit, "00000") and not re.fullmatch(limit, "1001")
