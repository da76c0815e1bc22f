"""API Gateway GetExport in moto 5.2.1: export the described REST API's real OpenAPI document.

What moto does wrong (moto/apigateway/models.py, `export_api`): whatever the export type, it
returns a Swagger 2.0 skeleton with every response schema `Empty`: no models, no parameters, no
API key security, no integrations; `--parameters extensions=...` and `--accepts` are ignored.

The fix, applied inside the moto server process by `apply(runtime_url)`: GetExport of a REST API
forwards (its name, the stage, the export type, `extensions`, Accept) to the runtime's
`GET /apigateway/restapis/{name}/stages/{stage}/exports/{type}` (`emulation.apigateway.export`), which
answers with the document the local stage serves. A REST API the description does not name gets
moto's own export, as before.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from .runtime_link import RuntimeUnavailable, call

log = logging.getLogger("localcloud.moto")
_original: dict[str, Any] = {}


def _forwarding_get_export(runtime_url: str | None):
    def get_export(self) -> Any:
        parts = self.path.split("?", 1)[0].split("/")
        api_id, stage, export_type = parts[-5], parts[-3], parts[-1]
        api = self.backend.apis.get(api_id)
        if api is None:
            return _original["get_export"](self)  # moto's own NotFound
        extensions = ",".join(self.querystring.get("extensions") or [])
        headers = {"X-Export-Extensions": extensions, "Accept": self.headers.get("Accept") or ""}
        path = (
            f"/apigateway/restapis/{quote(api.name, safe='')}/stages/{quote(stage, safe='')}"
            f"/exports/{quote(export_type, safe='')}"
        )
        try:
            status, reply_headers, body = call(runtime_url, "GET", path, headers=headers)
        except RuntimeUnavailable as exc:
            return (
                503,
                {"status": 503, "x-amzn-ErrorType": "ServiceUnavailableException"},
                json.dumps({"message": str(exc)}),
            )
        error = reply_headers.get("X-Amzn-ErrorType")
        if status == 404 and error == "NotFoundException" and b"is not the described one" in body:
            return _original["get_export"](self)  # an API made by hand: moto's export
        if status != 200:
            # moto takes the status from the headers (`status`), not from the tuple alone
            return (
                status,
                {"status": status, "x-amzn-ErrorType": error or "ServiceException"},
                body.decode(),
            )
        return (
            200,
            {
                "Content-Type": reply_headers.get("Content-Type", "application/json"),
                "Content-Disposition": reply_headers.get("Content-Disposition", ""),
            },
            body.decode(),
        )

    return get_export


def apply(runtime_url: str | None) -> None:
    """Patch moto's GetExport in this process (idempotent)."""
    from moto.apigateway.responses import APIGatewayResponse

    if not _original:
        _original["get_export"] = APIGatewayResponse.get_export
    APIGatewayResponse.get_export = _forwarding_get_export(runtime_url)


def revert() -> None:
    from moto.apigateway.responses import APIGatewayResponse

    if _original:
        APIGatewayResponse.get_export = _original.pop("get_export")
