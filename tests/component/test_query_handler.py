"""The query Lambda: REST proxy events in API Gateway's shape, tables filled by the projector."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from pipeline.events import parse_event
from pipeline.handlers import project, query
from pipeline.resources import PIPELINE
from tests.component.conftest import create_pipeline_tables
from tests.unit.stream_records import REGION, kinesis_event


def sale(line, invoice_no, customer_id="17850", **fields):
    data = {
        "event_id": f"00aa11bb22cc33dd:{line}",
        "invoice_no": invoice_no,
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER",
        "quantity": 6,
        "invoice_date": "2010-12-01T08:26:00",
        "unit_price": "2.55",
        "customer_id": customer_id,
        "country": "United Kingdom",
    }
    data.update(fields)
    return parse_event(data).to_record_bytes()


def rest_event(path: str, query_string: dict[str, str] | None = None) -> dict:
    """A REST API proxy event as API Gateway sends it for GET <path> on stage v1."""
    route = next(
        (r for r in PIPELINE.api.routes
         if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", r.path), path)),
        None,
    )
    resource = route.path if route else "/{proxy+}"
    names = re.findall(r"\{(\w+)\}", resource)
    values = re.fullmatch(re.sub(r"\{\w+\}", "([^/]+)", resource), path).groups() if route else ()
    headers = {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
               "User-Agent": "pytest", "x-api-key": "test-key"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query_string or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query_string.items()} if query_string else None,
        "pathParameters": dict(zip(names, values)) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "httpMethod": "GET",
            "extendedRequestId": "JKJaXmPLvHcESHA=",
            "requestTime": "01/Dec/2010:08:26:00 +0000",
            "path": f"/v1{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "v1",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1291191960000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest", "apiKey": "test-key",
                         "apiKeyId": "key1", "accessKey": None, "accountId": None, "caller": None,
                         "cognitoIdentityId": None, "user": None, "userArn": None},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def call(path, query_string=None):
    response = query.handler(rest_event(path, query_string), None)
    # API Gateway accepts `headers` and/or `multiValueHeaders` (Powertools answers with the latter)
    content_types = [response.get("headers", {}).get("Content-Type"),
                     *response.get("multiValueHeaders", {}).get("Content-Type", [])]
    assert "application/json" in content_types
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def tables(monkeypatch, in_process_aws):
    monkeypatch.setenv("INVOICE_TABLE", "invoice")
    monkeypatch.setenv("CUSTOMER_TABLE", "customer")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_pipeline_tables(client)  # the real key schemas, sort keys included
        project.use_dynamodb_client(client)
        query.use_dynamodb_client(client)
        lines = [
            sale(2, "536365"),
            sale(3, "536365", quantity=3, unit_price="0.001", description=None,
                 invoice_date="2010-12-01T08:27:00"),
            *[sale(10 + n, f"5366{n:02d}", invoice_date=f"2010-12-{n + 2:02d}T09:00:00") for n in range(5)],
            sale(20, "C536700", quantity=-1, country="EIRE", invoice_date="2010-12-09T10:00:00"),
        ]
        assert project.handler(kinesis_event(lines), None) == {"batchItemFailures": []}
        yield client
        project.use_dynamodb_client(None)
        query.use_dynamodb_client(None)


def test_invoice_with_lines_and_exact_money(tables):
    status, body = call("/invoices/536365")
    assert status == 200
    assert {k: v for k, v in body.items() if k not in ("lines", "next")} == {
        "invoice_no": "536365",
        "customer_id": "17850",
        "country": "United Kingdom",
        "is_cancelled": False,
        "first_invoice_date": "2010-12-01T08:26:00",
        "last_invoice_date": "2010-12-01T08:27:00",
        "line_count": 2,
        "quantity": 9,
        "revenue": "15.303",
    }
    assert body["lines"][1] == {
        "event_id": "00aa11bb22cc33dd:3", "stock_code": "85123A", "description": None, "quantity": 3,
        "unit_price": "0.001", "line_total": "0.003", "invoice_date": "2010-12-01T08:27:00",
        "customer_id": "17850", "country": "United Kingdom",
    }
    assert body["next"] is None  # one page item holds the whole invoice


def huge_invoice(client, lines=500, first=100):
    """Lines of 255 four-byte characters: 500 of them are ~530 KB, past DynamoDB's item limit."""
    records = [sale(n, "581219", description="\U0001F600" * 255) for n in range(first, first + lines)]
    assert project.handler(kinesis_event(records), None) == {"batchItemFailures": []}


def read_whole(invoice_no):
    """Every line of an invoice, following `next` as a client would."""
    status, body = call(f"/invoices/{invoice_no}")
    assert status == 200
    lines, pages = list(body["lines"]), 1
    while body["next"] is not None:
        status, page = call(f"/invoices/{invoice_no}", {"next": body["next"]})
        assert status == 200, page
        assert {k: v for k, v in page.items() if k not in ("lines", "next")} == {
            k: v for k, v in body.items() if k not in ("lines", "next")}  # the same header on every page
        lines += page["lines"]
        body, pages = page, pages + 1
    return body, lines, pages


def test_an_invoice_past_the_item_limit_is_served_whole_page_by_page(tables):
    huge_invoice(tables)
    body, lines, pages = read_whole("581219")
    assert pages == 2 and body["line_count"] == 500
    assert [line["event_id"] for line in lines] == [f"00aa11bb22cc33dd:{n}" for n in range(100, 600)]
    assert all(line["description"] == "\U0001F600" * 255 for line in lines)


def test_a_reader_between_two_pages_of_a_changing_invoice_is_told_to_start_again(tables):
    huge_invoice(tables)
    status, first = call("/invoices/581219")
    assert first["next"] is not None
    huge_invoice(tables, lines=10, first=10)  # lines before the others: every page changes
    status, body = call("/invoices/581219", {"next": first["next"]})
    assert status == 409 and "again from the first page" in body["message"]
    assert read_whole("581219")[0]["line_count"] == 510


def test_customer_totals(tables):
    status, body = call("/customers/17850")
    assert status == 200
    assert body == {
        "customer_id": "17850",
        "country": "EIRE",
        "countries": ["EIRE", "United Kingdom"],
        "invoice_count": 6,
        "cancellation_count": 1,
        "quantity": 38,
        "revenue": "89.253",  # 15.303 + 5 x 15.3 - 2.55
        "first_purchase": "2010-12-01T08:26:00",
        "last_purchase": "2010-12-06T09:00:00",
    }


def test_customer_invoices_page_through_every_summary(tables):
    seen, token = [], None
    for _ in range(10):
        status, body = call("/customers/17850/invoices", {"limit": "3", **({"next": token} if token else {})})
        assert status == 200 and len(body["invoices"]) <= 3
        seen += [row["invoice_no"] for row in body["invoices"]]
        token = body["next"]
        if token is None:
            break
    assert seen == ["536365", "536600", "536601", "536602", "536603", "536604", "C536700"]
    status, body = call("/customers/17850/invoices")
    assert body["next"] is None and body["invoices"][-1] == {
        "invoice_no": "C536700", "date": "2010-12-09T10:00:00", "country": "EIRE",
        "line_count": 1, "quantity": -1, "revenue": "-2.55", "cancelled": True,
    }


@pytest.mark.parametrize(
    "path, query_string, names",
    [
        ("/invoices/53636X", None, "invoice_no"),
        ("/invoices/5363650", None, "invoice_no"),
        ("/customers/abc", None, "customer_id"),
        ("/customers/12345678901/invoices", None, "customer_id"),
        ("/customers/17850/invoices", {"limit": "0"}, "limit"),
        ("/customers/17850/invoices", {"limit": "ten"}, "limit"),
        ("/customers/17850/invoices", {"next": "!!garbage"}, "next"),
        ("/invoices/536365", {"next": "!!garbage"}, "next"),
        ("/invoices/536365", {"next": "1." + "0" * 23 + "g"}, "next"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(tables, path, query_string, names):
    status, body = call(path, query_string)
    assert status == 400
    assert names in body["message"]


@pytest.mark.parametrize("path, what", [
    ("/invoices/999999", "invoice 999999"),
    ("/customers/99999", "customer 99999"),
    ("/customers/99999/invoices", "customer 99999"),
])
def test_unknown_ids_are_404(tables, path, what):
    assert call(path) == (404, {"message": f"{what} not found"})


def test_guest_invoice_is_served_but_makes_no_customer(tables):
    project.handler(kinesis_event([sale(40, "536800", customer_id=None)]), None)
    status, body = call("/invoices/536800")
    assert status == 200 and body["customer_id"] is None


def test_every_described_query_route_is_served(tables):
    routes = [r for r in PIPELINE.api.routes if r.function == "sales-query"]
    assert {r.path for r in routes} == set(query.PATH_PATTERNS)
    examples = {"invoice_no": "536365", "customer_id": "17850"}
    for route in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: examples[m.group(1)], route.path)
        assert call(path)[0] == 200, route.path


def test_unknown_route_is_a_json_404(tables):
    status, body = call("/shipments/1")
    assert status == 404 and "GET /shipments/1" in body["message"]


def test_missing_table_setting_is_a_500_that_says_so(tables, monkeypatch):
    monkeypatch.delenv("INVOICE_TABLE")
    assert call("/invoices/536365") == (500, {"message": "sales-query is misconfigured: set INVOICE_TABLE"})
