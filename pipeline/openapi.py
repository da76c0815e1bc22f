"""The REST API as an OpenAPI 3.0 document with API Gateway extensions, built from the description.

One document serves three readers: the CDK app (an API Gateway `SpecRestApi` / import), the local
gateway (its route table), and fuzzers or client generators. It is derived from
`resources.api` and the request models it names, so nothing here restates a route or a limit.

    build_openapi(PIPELINE, integration_uri=lambda fn: ...)   -> dict
    python -m pipeline.openapi [--resources module:attr] > openapi.json

The local cloud publishes it through API Gateway's GetExport (`emulation.apigateway.export`). Each
operation lists every status it can answer: the function's (`Route.answers`) and API Gateway's own
(`GATEWAY_RESPONSES`), errors with the `GatewayError` JSON schema.

Pure: no boto3, no AWS calls. The integration URI of each function is the caller's choice (a
CloudFormation `Fn::Sub` string for CDK, a local ARN for the emulator); the default is the
`${AWS::AccountId}`-templated ARN that `Fn::Sub` resolves.
"""

from __future__ import annotations

import argparse
import copy
import json
import pkgutil
import re
import sys
from collections.abc import Callable
from typing import Any

from .resource_schema import Api, Resources, Route

API_KEY_HEADER = "x-api-key"
BODY_VALIDATOR = "validate-body"
PARAMS_VALIDATOR = "validate-params"
ERROR_SCHEMA = "GatewayError"
DIALECTS = ("apigateway", "oas30")
"""`apigateway`: models stay draft-04 (type arrays like ["string", "null"]), which API Gateway's
import turns into its models; `oas30`: strict OpenAPI 3.0 (`nullable`), for fuzzers and client
generators, which API Gateway would read differently (it ignores `nullable`)."""
_PATH_PARAM = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")

# Responses API Gateway itself may send (gateway responses), documented for clients and fuzzers.
GATEWAY_RESPONSES = {
    "400": "A request whose framing or nesting cannot be trusted (Content-Length, chunking, JSON "
    "nested too deeply), or a body that does not match the route's model (Invalid request body)",
    "403": "Missing or unknown API key (Forbidden), or no such route or method (Missing "
    "Authentication Token)",
    "413": "Request body larger than the API's payload limit (Request Too Long)",
    "414": "Request line over API Gateway's 10240 bytes of request line and header values",
    "415": "Content type other than application/json on a route with a request model",
    "429": "Usage-plan throttle (Too Many Requests) or quota (Limit Exceeded) reached",
    "431": "Request line and header values over API Gateway's 10240 bytes",
    "502": "The function failed or returned a malformed proxy response (Internal server error)",
    "504": "The function did not answer within the integration timeout",
}
MODEL_ONLY = {"415"}
"""Gateway responses only a route with a request model can give."""


def default_integration_uri(region: str) -> Callable[[str], str]:
    """Lambda proxy URI with an `${AWS::AccountId}` placeholder for CloudFormation's `Fn::Sub`."""

    def uri(function_name: str) -> str:
        return lambda_integration_uri(region, "${AWS::AccountId}", function_name)

    return uri


def lambda_integration_uri(region: str, account: str, function_name: str) -> str:
    function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
    return (
        f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


def function_from_integration_uri(uri: str) -> str:
    """The function name inside a Lambda proxy integration URI (inverse of the builders above)."""
    match = re.search(r":function:([A-Za-z0-9_-]+)(?::[A-Za-z0-9_$-]+)?/invocations$", uri)
    if not match:
        raise ValueError(f"not a Lambda proxy integration URI: {uri!r}")
    return match.group(1)


def load_models(api: Api) -> dict[str, dict[str, Any]]:
    """Import the `module:attribute` dict of request models an `Api` names (or take the dict an
    API translated from a template carries inline)."""
    if isinstance(api.models, dict):
        return api.models
    if ":" not in api.models:
        raise ValueError(f"api.models {api.models!r} must look like 'module:attribute'")
    models = pkgutil.resolve_name(api.models)
    if not isinstance(models, dict):
        raise TypeError(f"api.models {api.models!r} is a {type(models).__name__}, expected a dict")
    return models


def path_parameters(path: str) -> list[str]:
    return _PATH_PARAM.findall(path)


def build_openapi(
    resources: Resources,
    integration_uri: Callable[[str], str] | None = None,
    models: dict[str, dict[str, Any]] | None = None,
    dialect: str = "apigateway",
) -> dict[str, Any]:
    """The document; `dialect` decides how draft-04 models are written (see `DIALECTS`)."""
    api = resources.api
    uri = integration_uri or default_integration_uri(resources.region)
    models = load_models(api) if models is None else models
    used = {r.request_model for r in api.routes if r.request_model}
    missing = sorted(used - set(models))
    if missing:
        raise ValueError(
            f"routes name request models {missing} that {api.models} does not define "
            f"(it defines {sorted(models)})"
        )
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, uri)
    if dialect not in DIALECTS:
        raise ValueError(f"dialect {dialect!r} is not one of {DIALECTS}")
    schemas: dict[str, Any] = {}
    for name in sorted(used):
        _add_model(schemas, name, models[name], dialect)
    _add_model(schemas, ERROR_SCHEMA, _error_schema(), dialect)
    return {
        "openapi": "3.0.1",
        "info": {
            "title": api.name,
            "version": "1.0",
            "description": f"{resources.project} REST API (stage '{api.stage}'); "
            f"generated from the resource description by pipeline.openapi.",
        },
        "servers": [{"url": "/{basePath}", "variables": {"basePath": {"default": api.stage}}}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "api_key": {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"}
            },
        },
        "x-amazon-apigateway-api-key-source": "HEADER",
        "x-amazon-apigateway-request-validators": {
            BODY_VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": True},
            PARAMS_VALIDATOR: {"validateRequestBody": False, "validateRequestParameters": True},
        },
        "x-amazon-apigateway-minimum-compression-size": -1,
    }


def _operation(route: Route, uri: Callable[[str], str]) -> dict[str, Any]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                **({"pattern": route.path_patterns[name]} if name in route.path_patterns else {}),
            },
        }
        for name in path_parameters(route.path)
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": pattern},
        }
        for name, pattern in route.query_patterns.items()
    ]
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "responses": _responses(route),
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": uri(route.function),
            "passthroughBehavior": "when_no_match",
            "timeoutInMillis": 29000,
        },
    }
    if params:
        op["parameters"] = params
    if route.api_key_required:
        op["security"] = [{"api_key": []}]
    if route.request_model:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.request_model}"}
                }
            },
        }
        op["x-amazon-apigateway-request-validator"] = BODY_VALIDATOR
    elif params:
        op["x-amazon-apigateway-request-validator"] = PARAMS_VALIDATOR
    return op


def _responses(route: Route) -> dict[str, Any]:
    """Every status the route can answer: the function's (`route.answers`) and API Gateway's, each
    with its JSON body (errors: the `GatewayError` schema, which the functions' errors also fit)."""
    texts: dict[str, list[str]] = {}
    for code, text in route.answers.items():
        texts.setdefault(code, []).append(f"Function: {text}")
    for code, text in GATEWAY_RESPONSES.items():
        if code not in MODEL_ONLY or route.request_model:
            texts.setdefault(code, []).append(f"API Gateway: {text}")
    error = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    return {
        code: {
            "description": ". ".join(texts[code]),
            "content": {
                "application/json": {"schema": {"type": "object"} if code < "400" else error}
            },
        }
        for code in sorted(texts)
    }


def _operation_id(route: Route) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", route.path) if w]
    return route.method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _add_model(schemas: dict[str, Any], name: str, schema: dict[str, Any], dialect: str) -> None:
    """Put a draft-04 model and its `definitions` under components/schemas, refs rewritten."""
    doc = copy.deepcopy(schema)
    doc.pop("$schema", None)
    definitions = doc.pop("definitions", {})
    for sub_name, sub in [(name, doc), *definitions.items()]:
        converted = _convert(sub, dialect)
        if sub_name in schemas and schemas[sub_name] != converted:
            raise ValueError(f"model definition {sub_name!r} is declared twice, differently")
        schemas[sub_name] = converted


def _convert(node: Any, dialect: str) -> Any:
    if isinstance(node, list):
        return [_convert(item, dialect) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value, dialect) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        out["$ref"] = "#/components/schemas/" + ref[len("#/definitions/") :]
    types = out.get("type")
    if dialect == "oas30" and isinstance(types, list):
        # OpenAPI 3.0 has no type arrays: ["string", "null"] is `type: string, nullable: true`.
        rest = [t for t in types if t != "null"]
        if len(rest) != 1:
            raise ValueError(f"type {types} has no OpenAPI 3.0 equivalent")
        out["type"] = rest[0]
        if "null" in types:
            out["nullable"] = True
    return out


def _error_schema() -> dict[str, Any]:
    return {
        "title": ERROR_SCHEMA,
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "errors": {
                "description": "Local gateway only: each schema violation with its JSON Pointer",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.openapi", description="Print the REST API's OpenAPI document."
    )
    parser.add_argument(
        "--resources", default="pipeline.resources:PIPELINE", help="module:attribute"
    )
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="apigateway",
        help="apigateway: draft-04 models for import; oas30: strict OpenAPI 3.0",
    )
    args = parser.parse_args(argv)
    if ":" not in args.resources:
        parser.error(f"--resources {args.resources!r} must look like 'module:attribute'")
    resources = pkgutil.resolve_name(args.resources)
    json.dump(build_openapi(resources, dialect=args.dialect), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
