"""The Lambda proxy integration of a REST API: request -> event, function result -> HTTP response.

Emulates API Gateway's REST (v1) proxy event: `resource, path, httpMethod, headers,
multiValueHeaders, queryStringParameters, multiValueQueryStringParameters, pathParameters,
stageVariables, requestContext, body, isBase64Encoded`, with the `requestContext` keys of AWS's
documented sample plus `identity.apiKey` / `identity.apiKeyId` as sent on key-protected methods.
`headers` / `queryStringParameters` keep the last value of a repeated name; the `multiValue*` maps
keep all. Empty maps are `null`, as on AWS. `path` is the request path without the stage, still
percent-encoded; `pathParameters` and query values are decoded.

The function's result must be `{"statusCode", "headers"?, "multiValueHeaders"?, "body"?,
"isBase64Encoded"?}`; anything else (a non-object, a missing or non-integer status, a non-string
body, unknown keys) is a malformed proxy response: 502 `{"message": "Internal server error"}`,
as is an unhandled function error (including a function timeout).

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from .routing import RouteMatch

RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


@dataclass(frozen=True)
class ApiIdentity:
    account_id: str
    api_id: str
    stage: str
    domain_name: str


@dataclass
class Caller:
    source_ip: str
    user_agent: str | None
    api_key: str | None = None
    api_key_id: str | None = None


class MalformedProxyResponse(ValueError):
    """The function answered something API Gateway cannot turn into an HTTP response."""


def _multi(
    pairs: list[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def proxy_event(
    api: ApiIdentity,
    match: RouteMatch,
    method: str,
    raw_path: str,
    query: str,
    header_pairs: list[tuple[str, str]],
    body: bytes,
    caller: Caller,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    headers, multi_headers = _multi(header_pairs)
    query_single, query_multi = (
        _multi(parse_qsl(query, keep_blank_values=True)) if query else (None, None)
    )
    if body:
        try:
            text, is_b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
    else:
        text, is_b64 = None, False
    stage_prefix = f"/{api.stage}"
    path = raw_path[len(stage_prefix) :] or "/"
    route = match.route
    return {
        "resource": route.resource_path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": api.account_id,
            "apiId": api.api_id,
            "authorizer": {"claims": None, "scopes": None},
            "domainName": api.domain_name,
            "domainPrefix": api.domain_name.split(".", 1)[0],
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": caller.api_key,
                "apiKeyId": caller.api_key_id,
                "caller": None,
                "clientCert": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": caller.source_ip,
                "user": None,
                "userAgent": caller.user_agent,
                "userArn": None,
            },
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": datetime.fromtimestamp(now, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": route.resource_id or None,
            "resourcePath": route.resource_path,
            "stage": api.stage,
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedProxyResponse(
        f"header {name!r} has a {type(value).__name__} value, expected a string"
    )


def proxy_response(payload: Any) -> ProxyResponse:
    """Map a function's result to the HTTP response, or raise `MalformedProxyResponse`."""
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise MalformedProxyResponse("the function returned text that is not JSON") from exc
        except RecursionError:
            raise MalformedProxyResponse(
                "the function returned JSON nested too deeply to parse"
            ) from None
    if not isinstance(payload, dict):
        raise MalformedProxyResponse(
            f"the function returned a {type(payload).__name__}, expected an object"
        )
    unknown = set(payload) - RESPONSE_KEYS
    if unknown:
        raise MalformedProxyResponse(f"unknown keys in the proxy response: {sorted(unknown)}")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponse(
            f"statusCode {payload.get('statusCode')!r} is not an HTTP status"
        )
    single = payload.get("headers") or {}
    if not isinstance(single, dict):
        raise MalformedProxyResponse("headers must be an object of strings")
    headers: dict[str, list[str]] = {}
    for name, value in single.items():
        headers[name] = [_header_value(name, value)]
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(multi, dict):
        raise MalformedProxyResponse("multiValueHeaders must be an object of lists")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] must be a list")
        # The same name in both: only the multi-value list survives (AWS's merge rule).
        headers[name] = [_header_value(name, v) for v in values]
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedProxyResponse(f"body is a {type(body).__name__}, expected a string")
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedProxyResponse("isBase64Encoded is true but body is not base64") from exc
    else:
        data = body.encode("utf-8")
    pairs = [(n, v) for n, values in headers.items() for v in values]
    if not any(n.lower() == "content-type" for n, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    return ProxyResponse(status, pairs, data)
