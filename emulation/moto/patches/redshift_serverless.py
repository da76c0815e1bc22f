"""Redshift Serverless on moto 5.2.1's endpoint: moto has no such service.

What moto does wrong: a Redshift Serverless call (`aws redshift-serverless list-workgroups`) finds
no backend for its signing name, and moto's server answers 500 with an HTML debug page.

The fix, applied inside the moto server process by `apply(runtime_url)`: the dispatcher recognises
Redshift Serverless requests (credential scope `.../redshift-serverless/aws4_request`, or an
`X-Amz-Target: RedshiftServerless.*` header) before moto looks for a backend, and forwards them to
the runtime's `POST /redshift-serverless` (`emulation.redshift.serverless`), which describes the
local warehouse as a namespace and workgroup. The answer is AWS's JSON 1.1 protocol either way:
with the runtime down, a `ServiceUnavailableException` naming the fix.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import json
from typing import Any

from .runtime_link import RuntimeUnavailable, call

SIGNING_NAME = "/redshift-serverless/"
TARGET_PREFIX = "RedshiftServerless."
_original: dict[str, Any] = {}


def is_redshift_serverless(environ: dict[str, Any]) -> bool:
    return SIGNING_NAME in environ.get("HTTP_AUTHORIZATION", "") or environ.get(
        "HTTP_X_AMZ_TARGET", ""
    ).startswith(TARGET_PREFIX)


def _answer(runtime_url: str | None, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    length = environ.get("CONTENT_LENGTH") or "0"
    body = environ["wsgi.input"].read(int(length)) if length.isdigit() and int(length) else b""
    headers = {
        "X-Amz-Target": environ.get("HTTP_X_AMZ_TARGET", ""),
        "Content-Type": "application/x-amz-json-1.1",
    }
    try:
        status, reply_headers, data = call(
            runtime_url, "POST", "/redshift-serverless", headers=headers, body=body
        )
    except RuntimeUnavailable as exc:
        doc = {"__type": "ServiceUnavailableException", "message": str(exc)}
        return (
            503,
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amzn-ErrorType": "ServiceUnavailableException",
            },
            json.dumps(doc).encode(),
        )
    if status == 404:  # a runtime from before this route existed
        doc = {
            "__type": "UnknownOperationException",
            "message": "this local runtime does not answer Redshift Serverless calls: restart it",
        }
        data, status = json.dumps(doc).encode(), 400
    keep = {
        k: v for k, v in reply_headers.items() if k.lower() in ("content-type", "x-amzn-errortype")
    }
    return status, keep, data


def apply(runtime_url: str | None) -> None:
    """Route Redshift Serverless requests around moto's backends in this process (idempotent)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if _original:
        return
    _original["call"] = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):
        if not is_redshift_serverless(environ):
            return _original["call"](self, environ, start_response)
        status, headers, data = _answer(runtime_url, environ)
        from http import HTTPStatus

        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [*headers.items(), ("Content-Length", str(len(data)))],
        )
        return [data]

    DomainDispatcherApplication.__call__ = __call__


def revert() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if _original:
        DomainDispatcherApplication.__call__ = _original.pop("call")
