"""The handlers' AWS clients: one per service per execution environment, made on first use.

boto3 is imported lazily (it is in the Lambda runtime, and a cold start that never calls AWS
should not pay for it); clients are reused while the environment is warm, as AWS recommends.
Client-side parameter validation is off: the handlers build every request in code, the service
validates it again anyway, and botocore's validator walked every attribute of every item (about
a fifth of the projector's CPU time on large invoices).
Tests (or callers with their own session) replace a client with `use(service, client)`.
"""

from __future__ import annotations

from typing import Any

_clients: dict[str, Any] = {}


def use(service: str, client: Any) -> None:
    """Inject the client for `service` (None: make a fresh one on next use)."""
    if client is None:
        _clients.pop(service, None)
    else:
        _clients[service] = client


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is None:
        import boto3
        from botocore.config import Config

        found = _clients[service] = boto3.client(service, config=Config(parameter_validation=False))
    return found
