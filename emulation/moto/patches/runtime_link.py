"""How moto patches reach the local runtime's control port (the runtime knows the description).

`call(runtime_url, method, path, headers=..., body=...)` returns `(status, headers, body)` for any
answer, HTTP errors included, and raises `RuntimeUnavailable` naming the fix when nothing answers.
"""

from __future__ import annotations

import urllib.error
import urllib.request


class RuntimeUnavailable(RuntimeError):
    pass


def call(
    runtime_url: str | None,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    if not runtime_url:
        raise RuntimeUnavailable(
            "this call needs the local runtime, and moto was started without --runtime-url"
        )
    request = urllib.request.Request(
        runtime_url.rstrip("/") + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()
    except OSError as exc:
        raise RuntimeUnavailable(
            f"the local runtime at {runtime_url} is not answering ({exc}); start it with `make up` "
            "(or `python -m emulation up`)"
        ) from None
