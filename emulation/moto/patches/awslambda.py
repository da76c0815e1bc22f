"""Lambda `Invoke` in moto 5.2.1: run the real handler in the local runtime.

What moto does wrong (moto/awslambda/models.py): without Docker, `LambdaBackend.invoke` cannot run
a function (it tries to start a container, or with `lambda_simple` echoes the payload), so
`aws lambda invoke --endpoint-url http://localhost:4566` never reaches the handler. Its own
Kinesis event-source mappings call the function once per `PutRecord`, synchronously inside the
producer's request, ignoring every batching and error-handling setting.

The fix, applied inside the moto server process by `apply(runtime_url)`:
- `LambdaBackend.invoke` checks the function exists in moto (moto's own 404 otherwise), then
  forwards the request (payload, `X-Amz-Invocation-Type`, `X-Amz-Log-Type`,
  `X-Amz-Client-Context`) to the runtime's Invoke route
  (`POST {runtime_url}/2015-03-31/functions/{name}/invocations`, `emulation.awslambda.invoke_api`) and
  returns its payload with `X-Amz-Function-Error` / `X-Amz-Log-Result`;
- `LambdaBackend.send_kinesis_message` does nothing: Kinesis mappings are run by the runtime's
  pollers (`emulation.awslambda.mappings`), so a record is never delivered twice.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

log = logging.getLogger("localcloud.moto")

FORWARDED_HEADERS = ("X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
_original: dict[str, Any] = {}


def _runtime_error(message: str):
    from moto.core.exceptions import JsonRESTError

    class ServiceException(JsonRESTError):
        code = 500

    return ServiceException("ServiceException", message)


def _forwarding_invoke(runtime_url: str):
    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)  # moto's own 404 for an unknown function
        url = f"{runtime_url.rstrip('/')}/2015-03-31/functions/{quote(fn.function_name, safe='')}/invocations"
        data = body.encode() if isinstance(body, str) else (body or b"")
        forwarded = {h: headers[h] for h in FORWARDED_HEADERS if headers.get(h)}
        request = urllib.request.Request(url, data=data, method="POST", headers=forwarded)
        try:
            with urllib.request.urlopen(request, timeout=float(fn.timeout or 3) + 30) as reply:
                payload, reply_headers = reply.read(), reply.headers
        except urllib.error.HTTPError as err:
            # The runtime's AWS-shaped error (404 unknown function, 400 bad payload, 413 too large).
            import json

            from moto.core.exceptions import JsonRESTError

            text = err.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message", text)
            except (ValueError, AttributeError):
                message = text
            error = JsonRESTError(err.headers.get("X-Amzn-ErrorType", "ServiceException"), message)
            error.code = err.code
            raise error from None
        except OSError as exc:
            raise _runtime_error(
                f"the local Lambda runtime at {runtime_url} is not answering ({exc}); "
                "start it with `make up` (or `python -m emulation up`)"
            ) from None
        for name in ("X-Amz-Function-Error", "X-Amz-Log-Result", "X-Amz-Executed-Version"):
            if reply_headers.get(name):
                response_headers[name.lower()] = reply_headers[name]
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke


def _no_kinesis_push(self, *args: Any, **kwargs: Any) -> None:
    """The runtime's pollers deliver Kinesis records (see module docstring)."""


def apply(runtime_url: str | None) -> None:
    """Patch moto's Lambda backend in this process (idempotent). Without a runtime URL, moto's
    Invoke is left alone (nothing could run the code) and only the Kinesis push is disabled."""
    from moto.awslambda.models import LambdaBackend

    if not _original:
        _original.update(
            invoke=LambdaBackend.invoke, send_kinesis_message=LambdaBackend.send_kinesis_message
        )
    LambdaBackend.send_kinesis_message = _no_kinesis_push
    if runtime_url:
        LambdaBackend.invoke = _forwarding_invoke(runtime_url)
    else:
        log.warning("moto patch awslambda: no --runtime-url, so Invoke cannot run handlers")


def revert() -> None:
    """Undo `apply` (tests that patch an in-process moto)."""
    from moto.awslambda.models import LambdaBackend

    if _original:
        LambdaBackend.invoke = _original["invoke"]
        LambdaBackend.send_kinesis_message = _original["send_kinesis_message"]
