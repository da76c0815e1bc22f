"""moto's Redshift Data API runs nothing: hand ExecuteStatement, DescribeStatement and
GetStatementResult to the runtime, which runs them on the warehouse stand-in.

moto 5.2.1: `execute_statement` records the SQL (ignoring WorkgroupName), `describe_statement`
reports STARTED forever, and `get_statement_result` returns three fixed address rows whatever the
SQL. Patched (in the moto server process): the three operations' JSON requests are POSTed as they
are to the runtime's `/redshift-data/{Operation}` (emulation/redshift/data_api.py: what they do and
their gaps vs AWS) and its answers, errors included, go back to the caller unchanged.

Known gaps vs AWS: the other Data API operations stay moto's; without a runtime URL (or with the
runtime down) the three fail with an error naming it, rather than answering moto's fixed rows.
"""

from __future__ import annotations

import json

from .runtime_link import RuntimeUnavailable, call

OPERATIONS = ("execute_statement", "describe_statement", "get_statement_result")
_JSON = "application/x-amz-json-1.1"


def _forward(runtime_url: str | None, operation: str, body: str) -> tuple[int, str]:
    try:
        status, _, data = call(
            runtime_url,
            "POST",
            f"/redshift-data/{operation}",
            headers={"Content-Type": "application/json"},
            body=(body or "{}").encode(),
            timeout=30,
        )
    except RuntimeUnavailable as exc:
        return 500, json.dumps({"__type": "InternalServerException", "message": str(exc)})
    return status, data.decode()


def apply(runtime_url: str | None) -> None:
    from moto.redshiftdata.responses import RedshiftDataAPIServiceResponse

    def forwarder(operation: str):
        name = "".join(part.capitalize() for part in operation.split("_"))

        def handle(self):
            body = self.body if isinstance(self.body, str) else self.body.decode()
            status, data = _forward(runtime_url, name, body)
            # moto takes a response's status from its headers (BaseResponse._transform_response).
            return status, {"status": status, "Content-Type": _JSON}, data

        handle.__name__ = operation
        return handle

    for operation in OPERATIONS:
        setattr(RedshiftDataAPIServiceResponse, operation, forwarder(operation))
