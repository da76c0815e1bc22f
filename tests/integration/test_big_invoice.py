"""An invoice past DynamoDB's 400 KB item limit, on the real local cloud: accepted, so served whole.

500 lines with 255-character descriptions of four-byte characters are ~530 KB of lines: before
the invoice table had page items, the projector could not write such an invoice and
`GET /invoices/{id}` answered 404 although the archive and the warehouse held every line. Runs on
both targets (`--stack`): it reaches the cloud only over HTTP and boto3.
"""

from __future__ import annotations

import json

import httpx

from pipeline.client.sinks import Scope, read_dynamodb

from .stream_support import post_events, wait_until

PREFIX = "00000000b16b16b1"  # no file's digest: these ids cannot meet a replay's
INVOICE = "581999"
LINES = range(2, 502)


def line(n: int) -> dict:
    return {
        "event_id": f"{PREFIX}:{n}", "invoice_no": INVOICE, "stock_code": f"BIG{n:05d}",
        "description": "\U0001F600" * 254 + chr(0x4E00 + n), "quantity": n,
        "invoice_date": "2011-12-09T12:50:00", "unit_price": "1.25", "customer_id": "12680",
        "country": "France",
    }


def read_all(cloud) -> tuple[int, list[dict], int]:
    """(status, every line following `next`, responses) of GET /invoices/INVOICE."""
    url, headers = f"{cloud.api_url}/invoices/{INVOICE}", {"x-api-key": cloud.api_key}
    response = httpx.get(url, headers=headers, timeout=30)
    if response.status_code != 200:
        return response.status_code, [], 1
    body = response.json()
    lines, responses = list(body["lines"]), 1
    while body["next"] is not None:
        page = httpx.get(url, headers=headers, params={"next": body["next"]}, timeout=30)
        assert page.status_code == 200, page.text[:300]
        body, responses = page.json(), responses + 1
        lines += body["lines"]
    return 200, lines, responses


def test_an_invoice_past_the_item_limit_is_served_whole(local_cloud, monkeypatch):
    for name, value in local_cloud.env().items():  # the reader's boto3 client, as `make e2e` sets it
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    events = [line(n) for n in LINES]
    body = json.dumps({"events": events}, ensure_ascii=False).encode("utf-8")
    response = post_events(local_cloud, body)
    assert response.status_code == 200, response.text[:500]

    def whole():
        status, lines, responses = read_all(local_cloud)
        return status == 200 and len(lines) == len(LINES) and (lines, responses)

    lines, responses = wait_until(whole, timeout=180, every=2.0,
                                  what=f"GET /invoices/{INVOICE} serving all {len(LINES)} lines")
    assert responses >= 2  # more than one page item, one per response
    assert [x["event_id"] for x in lines] == [e["event_id"] for e in events]
    assert [x["description"] for x in lines] == [e["description"] for e in events]
    assert sum(x["quantity"] for x in lines) == sum(LINES)
    # the reconciliation's reader finds every line too, once
    figures = read_dynamodb(Scope(PREFIX, LINES.start, LINES.stop - 1),
                            endpoint=local_cloud.aws_endpoint, region=local_cloud.config.region)
    assert (figures.lines, figures.invoices, figures.customers, figures.quantity, figures.conflicts) == (
        len(LINES), 1, 1, sum(LINES), 0)
