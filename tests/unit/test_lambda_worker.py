"""Pieces of the Lambda runtime that need no worker process: handler resolution, the context
object, request parsing of the Invoke API and the log tail."""

from __future__ import annotations

import time

import pytest

from emulation.awslambda.context import LambdaContext
from emulation.awslambda.invoke_api import _function_name, log_tail
from emulation.awslambda.worker import InitError, load_handler


def test_handler_strings_resolve_like_the_aws_python_runtime():
    handler = load_handler("tests.integration.sample_handlers.module_state.handler")
    assert handler.__name__ == "handler"


@pytest.mark.parametrize(
    "spec, error_type, message",
    [
        ("nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots'"),
        (
            "no_such_package.module.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'no_such_package.module'",
        ),
        (
            "tests.integration.sample_handlers.echo.missing",
            "Runtime.HandlerNotFound",
            "Handler 'missing' missing on module 'tests.integration.sample_handlers.echo'",
        ),
    ],
)
def test_bad_handlers_give_aws_init_errors(spec, error_type, message):
    with pytest.raises(InitError) as info:
        load_handler(spec)
    assert info.value.payload["errorType"] == error_type
    assert message in info.value.payload["errorMessage"]


def test_context_reads_the_lambda_environment(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    monkeypatch.setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn")
    ctx = LambdaContext(
        "req-1",
        "arn:aws:lambda:us-east-1:123456789012:function:fn",
        int(time.time() * 1000) + 3000,
        {"custom": {"a": 1}, "client": {"app_title": "t"}},
    )
    assert ctx.function_name == "fn" and ctx.memory_limit_in_mb == "512"
    assert ctx.log_group_name == "/aws/lambda/fn" and ctx.aws_request_id == "req-1"
    assert 2000 < ctx.get_remaining_time_in_millis() <= 3000
    assert ctx.client_context.custom == {"a": 1} and ctx.client_context.client.app_title == "t"
    expired = LambdaContext("r", "arn", int(time.time() * 1000) - 10)
    assert expired.get_remaining_time_in_millis() == 0


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("echo", ("echo", None)),
        ("echo:%24LATEST", ("echo", "$LATEST")),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho", ("echo", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:echo:prod", ("echo", "prod")),
    ],
)
def test_function_names_and_arns_are_understood(raw, expected):
    assert _function_name(raw) == expected


def test_log_tail_returns_only_this_invocation(tmp_path):
    log = tmp_path / "fn.log"
    log.write_text(
        "START RequestId: a Version: $LATEST\nfrom a\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1 ms\n"
        "START RequestId: b Version: $LATEST\nfrom b\nEND RequestId: b\nREPORT RequestId: b\tDuration: 2 ms\n"
    )
    assert log_tail(log, "a").decode() == (
        "START RequestId: a Version: $LATEST\nfrom a\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1 ms\n"
    )
    assert log_tail(log, "zzz") == b""
