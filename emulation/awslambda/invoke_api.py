"""The Lambda Invoke REST API (`POST /2015-03-31/functions/{name}/invocations`) on the runtime's
control port, so `boto3.client("lambda", endpoint_url=runtime_url).invoke(...)` and the patched
moto server (`emulation.moto.patches.awslambda`) reach the real handler.

Honoured as AWS documents it: `X-Amz-Invocation-Type` (RequestResponse, Event -> 202 and run in
the background, DryRun -> 204), `X-Amz-Log-Type: Tail` (last 4 KB of this invocation's log,
base64, in `X-Amz-Log-Result`), `X-Amz-Client-Context` (base64 JSON), a function name or ARN,
`X-Amz-Function-Error: Unhandled` with the error JSON as payload, `X-Amz-Executed-Version`.
Errors carry AWS's codes in `X-Amzn-ErrorType`: ResourceNotFoundException (404),
InvalidRequestContentException (400), RequestTooLargeException (413),
InvalidParameterValueException (400).

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from urllib.parse import unquote

log = logging.getLogger("localcloud.lambda")

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6 MB request and response for synchronous invocations
ASYNC_PAYLOAD_LIMIT = 256 * 1024
LOG_TAIL_BYTES = 4096


class FunctionNotFound(KeyError):
    def __init__(self, arn: str):
        super().__init__(arn)
        self.message = f"Function not found: {arn}"

    def __str__(self) -> str:
        return self.message


def _error(status: int, code: str, message: str, request_id: str):
    headers = {"X-Amzn-ErrorType": code, "X-Amzn-RequestId": request_id}
    return status, headers, {"Type": "User", "message": message}


def _function_name(raw: str) -> tuple[str, str | None]:
    """`name`, `name:qualifier`, `arn:aws:lambda:region:acct:function:name[:qualifier]`."""
    name = unquote(raw)
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) < 7 or parts[5] != "function":
            return name, None
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if ":" in name:
        base, qualifier = name.split(":", 1)
        return base, qualifier
    return name, None


def register_invoke_api(control, service) -> None:
    """Serve the Invoke API for `service` (the LambdaService: `has_function`, `invoke_bytes`,
    `names`, `pools`), which calls this from its `start()`; this module never imports it."""

    def invoke_route(params, headers, body: bytes):
        request_id = str(uuid.uuid4())
        h = {k.lower(): v for k, v in headers.items()}
        name, qualifier = _function_name(params["name"])
        if not service.has_function(name) or qualifier not in (None, "$LATEST"):
            arn = service.names.function_arn(name) + (f":{qualifier}" if qualifier else "")
            return _error(
                404, "ResourceNotFoundException", f"Function not found: {arn}", request_id
            )
        invocation_type = h.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return _error(
                400,
                "InvalidParameterValueException",
                f"Unsupported invocation type {invocation_type!r}: use RequestResponse, Event or DryRun",
                request_id,
            )
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            return _error(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
                request_id,
            )
        try:
            if body.strip():
                json.loads(body)
            else:
                body = b"{}"
        except ValueError as exc:
            return _error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
                request_id,
            )
        except RecursionError:  # a hostile payload must not exhaust the parser's recursion
            return _error(
                400,
                "InvalidRequestContentException",
                "Could not parse request body into json: it is nested too deeply",
                request_id,
            )
        client_context = None
        if h.get("x-amz-client-context"):
            try:
                client_context = json.loads(base64.b64decode(h["x-amz-client-context"]))
            except (ValueError, RecursionError) as exc:
                return _error(
                    400,
                    "InvalidParameterValueException",
                    f"X-Amz-Client-Context is not base64-encoded JSON: {exc}",
                    request_id,
                )
        if invocation_type == "DryRun":
            return 204, {"X-Amzn-RequestId": request_id}, b""
        if invocation_type == "Event":
            threading.Thread(
                target=_run_async,
                args=(service, name, body, client_context, request_id),
                name=f"async-invoke-{name}",
                daemon=True,
            ).start()
            return 202, {"X-Amzn-RequestId": request_id}, b""
        result = service.invoke_bytes(
            name, body, client_context=client_context, request_id=request_id
        )
        reply_headers = {"X-Amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        if result.error is not None:
            reply_headers["X-Amz-Function-Error"] = "Unhandled"
        if h.get("x-amz-log-type") == "Tail":
            tail = log_tail(service.pools[name].log_path, request_id)
            reply_headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return 200, reply_headers, result.raw

    control.register("POST", r"/2015-03-31/functions/(?P<name>[^/]+)/invocations/?", invoke_route)


def _run_async(service, name: str, body: bytes, client_context, request_id: str) -> None:
    try:
        result = service.invoke_bytes(
            name, body, client_context=client_context, request_id=request_id
        )
        if result.error:
            log.warning(
                "async invocation %s of %s failed: %s",
                request_id,
                name,
                result.error.get("errorType"),
            )
    except (FunctionNotFound, RuntimeError) as exc:
        log.warning("async invocation %s of %s not run: %s", request_id, name, exc)


def log_tail(path, request_id: str) -> bytes:
    """This invocation's log lines (START..REPORT), at most the last 4 KB, like `--log-type Tail`."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 256 * 1024))
        text = f.read()
    start = text.rfind(f"START RequestId: {request_id}".encode())
    if start < 0:
        return b""
    end_marker = f"REPORT RequestId: {request_id}".encode()
    end = text.find(end_marker, start)
    end = text.find(b"\n", end) + 1 if end >= 0 else len(text)
    lines = [
        line
        for line in text[start:end].splitlines(keepends=True)
        if b"RequestId:" not in line or request_id.encode() in line
    ]
    return b"".join(lines)[-LOG_TAIL_BYTES:]
