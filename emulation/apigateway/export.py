"""API Gateway's GetExport for the described REST API: the OpenAPI document the local stage serves.

`aws apigateway get-export --rest-api-id ID --stage-name v1 --export-type oas30 openapi.json`
against the local cloud returns the document `pipeline.openapi` builds from the description (the
same one the gateway routes by), as AWS exports a deployed stage:

    export type      `oas30` (OpenAPI 3.0.1); `swagger` is refused with a BadRequestException
    parameters       `extensions=apigateway`: every `x-amazon-apigateway-*` extension (integrations,
                     validators, key source); `extensions=integrations`: integrations only; none:
                     a plain OpenAPI document without AWS extensions (AWS's default too)
    Accept           `application/json` (default) or `application/yaml`
    servers          the local stage's URL, `http://<host>:<api_port>/{basePath}` with basePath =
                     the stage, so a client generator or fuzzer can use the document as it is

The moto server forwards GetExport here (`emulation.moto.patches.apigateway`); the runtime's
`api` service registers `GET /apigateway/export` on its control port.

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from pipeline.openapi import build_openapi, lambda_integration_uri, load_models

EXTENSION_PREFIX = "x-amazon-apigateway-"
INTEGRATION = "x-amazon-apigateway-integration"
YAML = "application/yaml"


def _error(status: int, code: str, message: str):
    return status, {"X-Amzn-ErrorType": code}, {"message": message}


def export(config, resources, account: str, args: dict[str, str]):
    """`(status, headers, body)` for the control route; `args`: api_name, stage, type, extensions, accept."""
    api = resources.api
    if args.get("api_name") != api.name:
        return _error(
            404, "NotFoundException", f"REST API {args.get('api_name')!r} is not the described one"
        )
    if args.get("stage") != api.stage:
        return _error(
            404,
            "NotFoundException",
            f"Invalid stage identifier specified: {args.get('stage')!r} "
            f"(the described API's stage is {api.stage!r})",
        )
    if args.get("type") != "oas30":
        return _error(
            400,
            "BadRequestException",
            f"export type {args.get('type')!r} is not emulated by the "
            "local cloud: use --export-type oas30",
        )
    extensions = {e.strip() for e in args.get("extensions", "").split(",") if e.strip()}
    document = build_openapi(
        resources,
        integration_uri=lambda fn: lambda_integration_uri(config.region, account, fn),
        models=load_models(api),
        dialect="oas30",
    )
    document["servers"] = [
        {"url": f"{config.api_url}/{{basePath}}", "variables": {"basePath": {"default": api.stage}}}
    ]
    if "apigateway" not in extensions:
        keep = {INTEGRATION} if "integrations" in extensions else set()
        document = _without_extensions(document, keep)
    accept = (args.get("accept") or "application/json").split(";", 1)[0].strip().lower()
    if accept == YAML:
        import yaml

        body = yaml.safe_dump(document, sort_keys=False).encode()
    else:
        accept, body = "application/json", json.dumps(document, indent=2).encode()
    headers = {
        "Content-Type": accept,
        "Content-Disposition": f'attachment; filename="{api.name}-{api.stage}-oas30.'
        f'{"yaml" if accept == YAML else "json"}"',
    }
    return 200, headers, body


def _without_extensions(node: Any, keep: set[str]) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_extensions(v, keep)
            for k, v in node.items()
            if not k.startswith(EXTENSION_PREFIX) or k in keep
        }
    if isinstance(node, list):
        return [_without_extensions(item, keep) for item in node]
    return node


EXPORT_ROUTE = (
    r"/apigateway/restapis/(?P<api_name>[^/]+)/stages/(?P<stage>[^/]+)/exports/(?P<type>[^/]+)"
)
"""The control route moto forwards GetExport to; `X-Export-Extensions` carries `extensions`."""


def register_export_route(control, config, resources, account: str) -> None:
    def route(params: dict[str, str], headers: dict[str, str], _body: bytes):
        h = {k.lower(): v for k, v in headers.items()}
        args = {k: unquote(v) for k, v in params.items()}
        args.update(extensions=h.get("x-export-extensions", ""), accept=h.get("accept", ""))
        return export(config, resources, account, args)

    control.register("GET", EXPORT_ROUTE, route)
