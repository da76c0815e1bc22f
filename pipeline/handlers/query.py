"""GET invoices and customers (API Gateway REST proxy integration), served from DynamoDB.

Routes (the `sales-query` routes of `pipeline.resources`; a test keeps the two lists equal):
    GET /invoices/{invoice_no}              the invoice with its lines; an invoice stored over
                                            several page items (`pipeline.invoice_pages`) comes
                                            one page per response, `?next=<token>` for the next
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
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from pipeline.customers import customer_invoices_page, customer_view
from pipeline.handlers import clients
from pipeline.handlers.settings import Misconfigured, QuerySettings
from pipeline.invoice_pages import FIRST_PAGE, page_key
from pipeline.projections import invoice_view
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
            raise ClientMistake(
                f"path parameter {name} {value!r} is invalid: it must match {pattern}"
            )


def _deserialize(raw: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in raw.items()}


def _invoice_pages(
    invoice_no: str, pages: list[str], consistent: bool
) -> dict[str, dict[str, Any]]:
    """page -> page item, of those that exist (page 0 alone: one GetItem, as for any small item)."""
    table = QuerySettings.from_environment().invoice_table
    keys = [{"invoice_no": {"S": invoice_no}, "page": {"S": p}} for p in pages]
    if len(keys) == 1:
        raw = (
            _dynamodb_client()
            .get_item(TableName=table, Key=keys[0], ConsistentRead=consistent)
            .get("Item")
        )
        found = [raw] if raw else []
    else:
        request = {table: {"Keys": keys, "ConsistentRead": consistent}}
        found = []
        for _ in range(5):
            response = _dynamodb_client().batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise ServiceBusy(f"invoice {invoice_no} could not be read: keys left unprocessed")
    return {item["page"]: item for item in map(_deserialize, found)}


def _customer_items(customer_id: str) -> list[dict[str, Any]]:
    """Every summary item of the customer (one per invoice), with one paginated Query."""
    kwargs: dict[str, Any] = {
        "TableName": QuerySettings.from_environment().customer_table,
        "KeyConditionExpression": "customer_id = :c",
        "ExpressionAttributeValues": {":c": {"S": customer_id}},
    }
    items = []
    while True:
        response = _dynamodb_client().query(**kwargs)
        items += [_deserialize(raw) for raw in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class ServiceBusy(Exception):
    """DynamoDB kept some of the request unprocessed (503, the client retries)."""


@app.exception_handler(ServiceBusy)
def _busy(exc: ServiceBusy) -> Response:
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": str(exc)}),
        headers={"Retry-After": "1"},
    )


class InvoiceChanged(Exception):
    """The invoice was rewritten between two pages of one reading (409: start again)."""


@app.exception_handler(InvoiceChanged)
def _changed(exc: InvoiceChanged) -> Response:
    return _json(409, {"message": str(exc)})


@app.get("/invoices/<invoice_no>")
def get_invoice(invoice_no: str) -> Response:
    _check("/invoices/{invoice_no}", invoice_no=invoice_no)
    token = app.current_event.get_query_string_value("next")
    if token is None:
        page, revision = 0, None
        found = _invoice_pages(invoice_no, [FIRST_PAGE], consistent=False)
    else:
        page, revision = _page_position(token)
        found = _invoice_pages(invoice_no, [FIRST_PAGE, page_key(page)], consistent=True)
    head = found.get(FIRST_PAGE)
    if head is None or "line_count" not in head:  # no page 0 yet, or only a write's spill mark
        return _json(404, {"message": f"invoice {invoice_no} not found"})
    pages = int(head.get("pages", 1))
    lines = found.get(page_key(page))
    if revision is not None and (
        page >= pages
        or lines is None
        or head.get("revision") != revision
        or lines.get("revision") != revision
    ):
        raise InvoiceChanged(
            f"invoice {invoice_no} changed while it was read page by page: "
            "read it again from the first page (without next)"
        )
    view = invoice_view(head, lines)
    view["next"] = _page_token(page + 1, head["revision"]) if page + 1 < pages else None
    return _json(200, view)


def _page_token(page: int, revision: str) -> str:
    return f"{page}.{revision}"


def _page_position(token: str) -> tuple[int, str]:
    match = re.fullmatch(r"([1-9][0-9]{0,5})\.([0-9a-f]{24})", token)  # the route's query pattern
    if not match:
        raise ClientMistake(
            "query parameter next is invalid: pass the `next` value of the previous page unchanged"
        )
    return int(match.group(1)), match.group(2)


@app.get("/customers/<customer_id>")
def get_customer(customer_id: str) -> Response:
    _check("/customers/{customer_id}", customer_id=customer_id)
    view = customer_view(customer_id, _customer_items(customer_id))
    if view is None:
        return _json(404, {"message": f"customer {customer_id} not found"})
    return _json(200, view)


@app.get("/customers/<customer_id>/invoices")
def get_customer_invoices(customer_id: str) -> Response:
    _check("/customers/{customer_id}/invoices", customer_id=customer_id)
    limit = _limit(app.current_event.get_query_string_value("limit"))
    after = _position(app.current_event.get_query_string_value("next"))
    items = _customer_items(customer_id)
    if not items:
        return _json(404, {"message": f"customer {customer_id} not found"})
    rows, last = customer_invoices_page(items, limit, after)
    return _json(200, {"customer_id": customer_id, "invoices": rows, "next": _token(last)})


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ClientMistake(
            f"query parameter limit {text!r} is invalid: use a whole number 1..{MAX_LIMIT}"
        )
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
    try:
        QuerySettings.from_environment()
    except Misconfigured as exc:
        logger.error("misconfigured", extra={"missing": exc.missing})
        return {
            "statusCode": 500,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": str(exc)}),
        }
    return app.resolve(event, context)
