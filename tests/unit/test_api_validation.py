"""emulation.apigateway.validation: model checks with field paths a client can read."""

import json

import pytest

from emulation.apigateway.validation import ModelValidator
from tests.integration.test_resources_api import MODELS

GOOD = {"orders": [{"order_id": "536365", "quantity": 6, "price": "2.55"}]}


@pytest.fixture(scope="module")
def validator():
    return ModelValidator(MODELS)


def test_valid_body_is_parsed(validator):
    doc, problem = validator.check("OrderBatch", "application/json; charset=utf-8", json.dumps(GOOD).encode())
    assert problem is None and doc == GOOD


def test_violations_name_each_field_by_json_pointer(validator):
    body = {"orders": [GOOD["orders"][0], {"order_id": "X1", "quantity": "6", "colour": "red"}], "extra": 1}
    _, problem = validator.check("OrderBatch", "application/json", json.dumps(body).encode())
    assert problem.status == 400 and problem.message == "Invalid request body"
    paths = {e["path"] for e in problem.errors}
    assert paths == {"/extra", "/orders/1/order_id", "/orders/1/quantity", "/orders/1/price", "/orders/1/colour"}
    messages = {e["path"]: e["message"] for e in problem.errors}
    assert "missing" in messages["/orders/1/price"]
    assert "'6' is not of type 'integer'" in messages["/orders/1/quantity"]


@pytest.mark.parametrize("body,needle", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"\xff\xfe", "not valid UTF-8 JSON"),
    (b"   ", "the body is empty"),
])
def test_non_json_body_is_400(validator, body, needle):
    _, problem = validator.check("OrderBatch", "application/json", body)
    assert problem.status == 400 and needle in problem.errors[0]["message"]


def test_missing_content_type_is_taken_as_json(validator):
    _, problem = validator.check("OrderBatch", None, json.dumps(GOOD).encode())
    assert problem is None


def test_other_content_type_is_415(validator):
    _, problem = validator.check("OrderBatch", "text/plain", json.dumps(GOOD).encode())
    assert problem.status == 415 and problem.body()["message"] == "Unsupported Media Type"


def test_pointer_escapes_slash_and_tilde():
    v = ModelValidator({"M": {"type": "object", "properties": {"a/b~c": {"type": "integer"}}}})
    _, problem = v.check("M", None, b'{"a/b~c": "x"}')
    assert problem.errors[0]["path"] == "/a~1b~0c"


def test_invalid_model_is_refused_at_start_with_its_name():
    with pytest.raises(ValueError, match="request model 'Bad'"):
        ModelValidator({"Bad": {"type": "no-such-type"}})


def test_one_of_reports_the_closest_branch_not_the_whole_body():
    item = {"type": "object", "required": ["n"], "additionalProperties": False,
            "properties": {"n": {"type": "integer"}}}
    schema = {"definitions": {"Item": item}, "oneOf": [
        {"$ref": "#/definitions/Item"},
        {"type": "object", "required": ["items"], "additionalProperties": False,
         "properties": {"items": {"type": "array", "items": {"$ref": "#/definitions/Item"}}}},
    ]}
    v = ModelValidator({"M": schema})
    body = {"items": [{"n": i} for i in range(300)]}
    body["items"][42]["n"] = "x"
    _, problem = v.check("M", None, json.dumps(body).encode())
    assert problem.errors == ({"path": "/items/42/n", "message": "'x' is not of type 'integer'"},)


def test_production_batch_model_names_the_bad_event_field():
    from pipeline.api_models import REQUEST_MODELS

    event = {"event_id": "0123456789abcdef:2", "invoice_no": "536365", "stock_code": "85123A",
             "description": None, "quantity": 6, "invoice_date": "2010-12-01T08:26:00",
             "unit_price": "2.55", "customer_id": None, "country": "United Kingdom"}
    batch = {"events": [dict(event, event_id=f"0123456789abcdef:{i + 2}") for i in range(500)]}
    v = ModelValidator(REQUEST_MODELS)
    assert v.check("SaleEventBatch", None, json.dumps(batch).encode())[1] is None
    batch["events"][7]["unit_price"] = 2.55
    _, problem = v.check("SaleEventBatch", None, json.dumps(batch).encode())
    assert [e["path"] for e in problem.errors] == ["/events/7/unit_price"]
    assert all(len(e["message"]) <= 200 for e in problem.errors)
