"""The `context` object a Python Lambda handler receives, as the AWS Python runtime builds it.

Attribute names and types follow `awslambdaric.lambda_context.LambdaContext`: the function's name,
version, memory and log names come from the environment Lambda sets; the request id, invoked ARN,
deadline and client context come with each invocation.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Client:
    installation_id: str | None = None
    app_title: str | None = None
    app_version_name: str | None = None
    app_version_code: str | None = None
    app_package_name: str | None = None


@dataclass(frozen=True)
class ClientContext:
    client: Client | None
    custom: dict[str, Any] | None
    env: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ClientContext | None:
        if not data:
            return None
        client = data.get("client")
        return cls(
            client=Client(**{k: client.get(k) for k in Client.__dataclass_fields__})
            if client
            else None,
            custom=data.get("custom"),
            env=data.get("env"),
        )


class LambdaContext:
    def __init__(
        self,
        aws_request_id: str,
        invoked_function_arn: str,
        deadline_epoch_ms: int,
        client_context: dict[str, Any] | None = None,
    ):
        env = os.environ
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        # The AWS runtime passes the environment string through unchanged, so it is a str there too.
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = ClientContext.from_json(client_context)
        self.tenant_id = None
        self._deadline_epoch_ms = deadline_epoch_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_epoch_ms - time.time() * 1000), 0)

    def log(self, message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


def install_request_id_logging() -> None:
    """The AWS runtime's root handler prefixes records with level, time and request id."""

    class _RequestIdFilter(logging.Filter):
        request_id = ""

        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = _RequestIdFilter.request_id
            return True

    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    install_request_id_logging.filter = _RequestIdFilter  # type: ignore[attr-defined]


def set_logging_request_id(request_id: str) -> None:
    flt = getattr(install_request_id_logging, "filter", None)
    if flt is not None:
        flt.request_id = request_id
