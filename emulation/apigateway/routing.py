"""API Gateway's resource matching for a REST API stage, built from the API's OpenAPI document.

Emulates: a request `/<stage>/<path>` matches a resource path template (`/invoices/{invoice_no}`,
greedy `{proxy+}` at the end) and one of its methods; a literal segment wins over a `{param}`
one, as on API Gateway. No match (unknown stage, path or method) is API Gateway's
403 `Missing Authentication Token`, which the gateway answers.

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pipeline.openapi import function_from_integration_uri

_SEGMENT_PARAM = re.compile(r"^\{([A-Za-z0-9_]+)(\+?)\}$")
_METHODS = ("get", "post", "put", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class RouteSpec:
    method: str
    resource_path: str
    """The template as declared, e.g. `/customers/{customer_id}/invoices`."""
    function: str
    api_key_required: bool
    model: str | None
    """Name of the JSON-schema model the body must match (validated only with a body validator)."""
    resource_id: str = ""
    """API Gateway's resource id (from moto once provisioned), reported in requestContext."""


@dataclass
class _Resource:
    path: str
    pattern: re.Pattern[str]
    literal_rank: tuple[int, ...]
    methods: dict[str, RouteSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteMatch:
    route: RouteSpec
    path_parameters: dict[str, str]


def _compile(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    parts, rank = [], []
    for segment in template.strip("/").split("/") if template != "/" else []:
        param = _SEGMENT_PARAM.match(segment)
        if param and param.group(2):  # greedy {proxy+}: the rest of the path, at least one char
            parts.append(f"(?P<{param.group(1)}>.+)")
            rank.append(2)
        elif param:
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return re.compile("/" + "/".join(parts)), tuple(rank)


class RouteTable:
    def __init__(self, stage: str, routes: list[RouteSpec]):
        self.stage = stage
        by_path: dict[str, _Resource] = {}
        for route in routes:
            res = by_path.get(route.resource_path)
            if res is None:
                pattern, rank = _compile(route.resource_path)
                res = by_path[route.resource_path] = _Resource(route.resource_path, pattern, rank)
            if route.method in res.methods:
                raise ValueError(f"route {route.method} {route.resource_path} is declared twice")
            res.methods[route.method] = route
        # Literal segments before parameters before greedy ones, left to right (API Gateway's order).
        self._resources = sorted(by_path.values(), key=lambda r: r.literal_rank)

    @classmethod
    def from_openapi(
        cls, document: dict[str, Any], stage: str, resource_ids: dict[str, str] | None = None
    ) -> RouteTable:
        """Routes of an OpenAPI document from `pipeline.openapi.build_openapi`."""
        resource_ids = resource_ids or {}
        routes = []
        for path, item in document.get("paths", {}).items():
            for method, op in item.items():
                if method not in _METHODS:
                    continue
                integration = op.get("x-amazon-apigateway-integration") or {}
                if integration.get("type") != "aws_proxy":
                    raise ValueError(
                        f"{method.upper()} {path}: only aws_proxy integrations are served"
                    )
                body_ref = (
                    op.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                    .get("$ref")
                )
                validator = document.get("x-amazon-apigateway-request-validators", {}).get(
                    op.get("x-amazon-apigateway-request-validator", ""), {}
                )
                model = (
                    body_ref.rsplit("/", 1)[-1]
                    if body_ref and validator.get("validateRequestBody")
                    else None
                )
                routes.append(
                    RouteSpec(
                        method=method.upper(),
                        resource_path=path,
                        function=function_from_integration_uri(integration["uri"]),
                        api_key_required=any("api_key" in s for s in op.get("security", [])),
                        model=model,
                        resource_id=resource_ids.get(path, ""),
                    )
                )
        return cls(stage, routes)

    @property
    def routes(self) -> list[RouteSpec]:
        return [r for res in self._resources for r in res.methods.values()]

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """`raw_path` is the URL path as sent (`/v1/invoices/536365`), still percent-encoded."""
        prefix = f"/{self.stage}"
        if raw_path == prefix:
            rest = "/"
        elif raw_path.startswith(prefix + "/"):
            rest = raw_path[len(prefix) :]
        else:
            return None
        for res in self._resources:
            m = res.pattern.fullmatch(rest)
            if m is None:
                continue
            route = res.methods.get(method)
            if route is None:
                return None  # the resource exists but not this method: still 403 on API Gateway
            return RouteMatch(route, {k: unquote(v) for k, v in m.groupdict().items()})
        return None
