"""Every moto 5.2.1 response: skip the request-id regex on bodies that cannot hold one.

What moto does slowly (moto/core/responses.py, `BaseResponse._enrich_response`): every response
body, JSON included, goes through `re.sub(r"(?<=<RequestId>).*(?=<\\/RequestId>)", ...)`, a
lookbehind tried at every character. A Kinesis GetRecords page of a few thousand records is
megabytes of JSON: profiled under the stream benchmark, this one regex was ~14% of the moto
server's request time.

The fix, applied inside the moto server process by `apply()`: the regex runs only when the body
is text containing `<RequestId>` (a plain substring search); otherwise nothing can match, so
the result is the same: the status cast to text and the request id header, as moto does.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

from typing import Any

_original: dict[str, Any] = {}


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    if isinstance(body, str) and "<RequestId>" in body:
        return _original["enrich"](headers, body)
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    if "status" in headers:
        headers["status"] = str(headers["status"])
    gen_amzn_requestid_long(headers)  # sets the x-amzn-requestid header, as moto does
    return headers, body


def apply(runtime_url: str | None = None) -> None:
    """Patch moto's response enrichment in this process (idempotent)."""
    from moto.core.responses import BaseResponse

    if "enrich" in _original:
        return
    _original["enrich"] = BaseResponse._enrich_response
    BaseResponse._enrich_response = staticmethod(_enrich_response)


def revert() -> None:
    """Restore stock moto."""
    from moto.core.responses import BaseResponse

    if "enrich" in _original:
        BaseResponse._enrich_response = staticmethod(_original.pop("enrich"))
