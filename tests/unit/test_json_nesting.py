"""Every parser that reads outside input refuses deep nesting with a clear error, never a RecursionError.

(The gateway's own answers over real HTTP are in tests/integration/test_api_hostile_transport.py.)
"""

from __future__ import annotations

import base64
import json

import pytest

from emulation.apigateway.proxy import MalformedProxyResponse, proxy_response
from emulation.apigateway.validation import ModelValidator
from pipeline.events import InvalidEvent, SaleEvent
from pipeline.ingest import BatchRejected, parse_batch
from tests.integration.test_resources_api import MODELS

DEEP = b"[" * 100_000 + b"]" * 100_000
MODERATE = b"[" * 900 + b"]" * 900  # parses, but jsonschema's messages would recurse through it


@pytest.mark.parametrize("body", [b'{"orders": ' + DEEP + b"}", b'{"orders": [' + MODERATE + b"]}", b"[" * 50_000])
def test_the_gateway_validator_says_the_body_is_nested_too_deeply(body):
    _, problem = ModelValidator(MODELS).check("OrderBatch", "application/json", body)
    assert problem.status == 400 and problem.message == "Invalid request body"
    assert "nested too deeply" in problem.errors[0]["message"]


def test_a_shallow_invalid_body_still_lists_its_fields():
    _, problem = ModelValidator(MODELS).check("OrderBatch", "application/json", b'{"orders": [[[1]]]}')
    assert problem.errors and all("nested" not in e["message"] for e in problem.errors)


def test_a_proxy_response_nested_too_deeply_is_malformed():
    with pytest.raises(MalformedProxyResponse, match="nested too deeply"):
        proxy_response(DEEP)


def test_ingest_refuses_a_deep_body_as_a_bad_batch():
    with pytest.raises(BatchRejected, match="nested too deeply"):
        parse_batch(b'{"events": ' + DEEP + b"}")


def test_a_deep_stream_record_is_a_poison_event_not_a_crash():
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        SaleEvent.from_record(DEEP)


@pytest.mark.parametrize("token", [
    base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("="),
    "A" * 600,
    "not*base64",
])
def test_a_pagination_token_that_is_deep_long_or_not_base64_is_a_client_mistake(token):
    from pipeline.handlers.query import ClientMistake, _position

    with pytest.raises(ClientMistake, match="next"):
        _position(token)


def test_the_token_the_handler_writes_reads_back():
    from pipeline.handlers.query import _position, _token

    position = ("2010-12-01T08:26:00", "C536365")
    assert _position(_token(position)) == position
    assert json.loads(base64.urlsafe_b64decode(_token(position) + "==")) == list(position)
