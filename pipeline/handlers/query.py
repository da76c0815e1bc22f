"""GET invoices and customers (API Gateway REST proxy integration), served from DynamoDB.

Routes (the `sales-query` routes of `pipeline.resources`; a test keeps the two lists equal):
    GET /invoices/{invoice_no}              the invoice with its lines
    GET /customers/{customer_id}            the customer's totals
    GET /customers/{customer_id}/invoices   the customer's invoice summaries, by date;
                                            `?limit=1..1000` (default 100) and `?next=<token>`

Path parameters are checked against the route's `path_patterns` (400 naming the parameter);
unknown ids are 404; every body is JSON `{"message": ...}` on error. Money is an exact decimal
string, counts are integers.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from pipeline.handlers import clients
from pipeline.projections import customer_invoices_page, customer_view, invoice_view
from pipeline.resources import PIPELINE

FUNCTION = "sales-query"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TOKEN = 512
"""Characters of a `next` token; the ones this module writes are under 100."""

logger = Logger(service=FUNCTION)
app = APIGatewayRestResolver()

PATH_PATTERNS = {r.path: r.path_patterns for r in PIPELINE.api.routes if r.function == FUNCTION}


def use_dynamodb_client(client: Any) -> None:
    """Inject the dynamodb client (tests, or callers with their own session)."""
    clients.use("dynamodb", client)


def _dynamodb_client() -> Any:
    return clients.client("dynamodb")


class ClientMistake(Exception):
    """A request the caller can fix (400)."""


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


@app.exception_handler(ClientMistake)
def _bad_request(exc: ClientMistake) -> Response:
    return _json(400, {"message": str(exc)})


@app.exception_handler(NotFoundError)
def _no_route(exc: NotFoundError) -> Response:
    event = app.current_event
    return _json(404, {"message": f"no route {event.http_method} {event.path}"})


def _check(route: str, **params: str) -> None:
    for name, value in params.items():
        pattern = PATH_PATTERNS[route].get(name)
        if pattern and not re.fullmatch(pattern, value):
            raise ClientMistake(f"path parameter {name} {value!r} is invalid: it must match {pattern}")


def _get(table_variable: str, key: str, value: str) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    raw = _dynamodb_client().get_item(
        TableName=os.environ[table_variable], Key={key: {"S": value}}
    ).get("Item")
    if raw is None:
        return None
    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in raw.items()}


@app.get("/invoices/<invoice_no>")
def get_invoice(invoice_no: str) -> Response:
    _check("/invoices/{invoice_no}", invoice_no=invoice_no)
    item = _get("INVOICE_TABLE", "invoice_no", invoice_no)
    if item is None:
        return _json(404, {"message": f"invoice {invoice_no} not found"})
    return _json(200, invoice_view(item))


@app.get("/customers/<customer_id>")
def get_customer(customer_id: str) -> Response:
    _check("/customers/{customer_id}", customer_id=customer_id)
    item = _get("CUSTOMER_TABLE", "customer_id", customer_id)
    if item is None:
        return _json(404, {"message": f"customer {customer_id} not found"})
    return _json(200, customer_view(item))


@app.get("/customers/<customer_id>/invoices")
def get_customer_invoices(customer_id: str) -> Response:
    _check("/customers/{customer_id}/invoices", customer_id=customer_id)
    limit = _limit(app.current_event.get_query_string_value("limit"))
    after = _position(app.current_event.get_query_string_value("next"))
    item = _get("CUSTOMER_TABLE", "customer_id", customer_id)
    if item is None:
        return _json(404, {"message": f"customer {customer_id} not found"})
    rows, last = customer_invoices_page(item, limit, after)
    return _json(200, {"customer_id": customer_id, "invoices": rows, "next": _token(last)})


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ClientMistake(f"query parameter limit {text!r} is invalid: use a whole number 1..{MAX_LIMIT}")
    return int(text)


def _token(position: tuple[str, str] | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def _position(token: str | None) -> tuple[str, str] | None:
    if token is None:
        return None
    try:
        # A token is short: refusing long ones first bounds the JSON parser's recursion.
        if len(token) > MAX_TOKEN or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
            raise ValueError
        date, invoice_no = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not (isinstance(date, str) and isinstance(invoice_no, str)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise ClientMistake(
            "query parameter next is invalid: pass the `next` value of the previous page unchanged"
        ) from None
    return date, invoice_no


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    missing = [v for v in ("INVOICE_TABLE", "CUSTOMER_TABLE") if not os.environ.get(v)]
    if missing:
        logger.error("misconfigured", extra={"missing": missing})
        message = f"{FUNCTION} is misconfigured: set {', '.join(missing)}"
        return {"statusCode": 500, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"message": message})}
    return app.resolve(event, context)
