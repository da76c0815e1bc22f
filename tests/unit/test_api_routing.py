"""emulation.apigateway.routing: API Gateway's resource matching."""

import pytest

from emulation.apigateway.routing import RouteSpec, RouteTable
from pipeline.openapi import build_openapi
from tests.integration.test_resources_api import MODELS, RESOURCES


def _table(*specs):
    return RouteTable("v1", [RouteSpec(m, p, "fn", True, None) for m, p in specs])


def test_literal_segment_wins_over_a_parameter():
    table = _table(("GET", "/orders/{id}"), ("GET", "/orders/latest"))
    assert table.match("GET", "/v1/orders/latest").route.resource_path == "/orders/latest"
    hit = table.match("GET", "/v1/orders/536365")
    assert hit.route.resource_path == "/orders/{id}" and hit.path_parameters == {"id": "536365"}


def test_parameters_are_percent_decoded_and_do_not_cross_slashes():
    table = _table(("GET", "/customers/{cid}/orders"), ("GET", "/customers/{cid}"))
    assert table.match("GET", "/v1/customers/a%20b").path_parameters == {"cid": "a b"}
    assert table.match("GET", "/v1/customers/17/orders").route.resource_path == "/customers/{cid}/orders"
    assert table.match("GET", "/v1/customers/17/x") is None


def test_greedy_proxy_takes_the_rest_of_the_path():
    table = _table(("GET", "/files/{proxy+}"))
    assert table.match("GET", "/v1/files/a/b/c").path_parameters == {"proxy": "a/b/c"}
    assert table.match("GET", "/v1/files/") is None


@pytest.mark.parametrize("method,path", [
    ("GET", "/v2/orders/1"),      # another stage
    ("GET", "/orders/1"),         # no stage
    ("DELETE", "/v1/orders/1"),   # resource exists, method does not
    ("GET", "/v1/nothing"),
    ("GET", "/v1"),
])
def test_no_match(method, path):
    assert _table(("GET", "/orders/{id}")).match(method, path) is None


def test_duplicate_route_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        _table(("GET", "/a"), ("GET", "/a"))


def test_table_from_the_openapi_document_keeps_function_key_and_model():
    table = RouteTable.from_openapi(build_openapi(RESOURCES, models=MODELS), "test", {"/orders": "abc123"})
    post = table.match("POST", "/test/orders").route
    assert (post.function, post.api_key_required, post.model, post.resource_id) == ("echo", True, "OrderBatch", "abc123")
    public = table.match("GET", "/test/public").route
    assert public.api_key_required is False and public.model is None
    assert {(r.method, r.resource_path) for r in table.routes} == {(r.method, r.path) for r in RESOURCES.api.routes}
