"""The local Lambda runtime (a real runtime process with real worker processes), through the Lambda
Invoke API with boto3 as a user calls it: environment, context, warm reuse, cold starts after
timeouts and crashes, logs, errors, concurrency and fault switches. Cold starts are read the way
CloudWatch shows them: an `Init Duration` in the invocation's REPORT line."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from .lambda_support import lambda_cloud  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.embedded_only(
    reason=(
        "a private cloud with its own test functions; sets /faults switches and inspects the "
        "worker processes"
    )
)


@pytest.fixture
def lam(lambda_cloud):  # noqa: F811
    return lambda_cloud.client("lambda", endpoint=lambda_cloud.config.runtime_url)


def _invoke(lam, name, event, **kwargs):
    reply = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return reply, json.loads(reply["Payload"].read())


def test_boto3_invoke_runs_the_handler_with_lambda_environment_and_context(lambda_cloud, lam):  # noqa: F811
    reply, body = _invoke(lam, "echo", {"hello": "world"})
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply
    assert reply["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"hello": "world"}
    env, ctx = body["env"], body["context"]
    cfg = lambda_cloud.config
    assert env == {
        "AWS_LAMBDA_FUNCTION_NAME": "echo",
        "AWS_REGION": cfg.region,
        "AWS_DEFAULT_REGION": cfg.region,
        "AWS_ENDPOINT_URL": cfg.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/echo",
        "_HANDLER": "tests.integration.sample_handlers.echo.handler",
        "GREETING_TABLE": "lambda-test-batches",  # the function's own variable, placeholder resolved
        "HOME_BUCKET": None,
    }
    assert ctx["function_name"] == "echo" and ctx["memory_limit_in_mb"] == "256"
    assert ctx["invoked_function_arn"] == lambda_cloud.names.function_arn("echo")
    assert ctx["log_group_name"] == "/aws/lambda/echo" and "[$LATEST]" in ctx["log_stream_name"]
    assert 0 < ctx["remaining_ms"] <= 5000
    assert ctx["aws_request_id"] == reply["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_handler_output_goes_to_the_log_with_start_end_report(lambda_cloud, lam):  # noqa: F811
    reply, body = _invoke(lam, "sleepy", {"print_lines": 300}, LogType="Tail")
    assert body["slept"] == 0  # hundreds of printed lines did not disturb the protocol channel
    request_id = reply["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    text = lambda_cloud.log_text("sleepy")
    start = text.index(f"START RequestId: {request_id} Version: $LATEST")
    end = text.index(f"END RequestId: {request_id}")
    report = text.index(f"REPORT RequestId: {request_id}\tDuration: ")
    assert start < text.index("line 299 ", start) < end < report
    assert "err 299" in text[start:end]
    tail = base64.b64decode(reply["LogResult"]).decode()
    assert tail.rstrip().splitlines()[-1].startswith(f"REPORT RequestId: {request_id}")
    assert len(tail.encode()) <= 4096


def test_warm_invocations_keep_module_state(lambda_cloud):  # noqa: F811
    first = lambda_cloud.invoke("stateful", {})
    second = lambda_cloud.invoke("stateful", {})
    assert first.error is None and second.error is None
    assert second.payload["pid"] == first.payload["pid"]
    assert second.payload["invocations"] == first.payload["invocations"] + 1
    assert second.cold_start is False and second.duration_ms >= 0


def _workers(lambda_cloud, function):  # noqa: F811
    return lambda_cloud.functions()[function]["workers"]


def test_timeout_kills_the_worker_and_the_next_call_gets_another(lambda_cloud):  # noqa: F811
    warm = lambda_cloud.invoke("sleepy", {"seconds": 0})
    timed_out = lambda_cloud.invoke(
        "sleepy", {"seconds": 30}
    )  # the most recently idle worker: warm's
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out.error["errorMessage"]
    # stopped at its 1 s timeout, not when its 30 s sleep ends (a wide margin for a busy machine)
    assert "Status: timeout" in timed_out.report and 1000 <= timed_out.duration_ms < 20_000
    assert warm.payload["pid"] not in _workers(lambda_cloud, "sleepy")  # killed, never reused
    after = lambda_cloud.invoke("sleepy", {"seconds": 0})
    assert after.error is None and after.payload["pid"] != warm.payload["pid"]


def test_crash_is_a_runtime_exit_error_and_the_next_call_cold_starts(lambda_cloud):  # noqa: F811
    warm = lambda_cloud.invoke("sleepy", {"seconds": 0})
    crashed = lambda_cloud.invoke("sleepy", {"exit": 3})
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.error["errorMessage"]
    assert warm.payload["pid"] not in _workers(lambda_cloud, "sleepy")
    again = lambda_cloud.invoke("sleepy", {"seconds": 0})
    assert again.error is None and again.payload["pid"] != warm.payload["pid"]


def test_handler_exception_has_aws_error_shape_and_keeps_the_worker(lam):
    reply, body = _invoke(lam, "sleepy", {"raise": "bad input"})
    assert reply["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input"
    assert any("sleep.py" in frame and "in handler" in frame for frame in body["stackTrace"])
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_init_error_is_reported_like_aws(lam):
    reply, body = _invoke(lam, "broken", {})
    assert reply["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert (
        "Unable to import module 'tests.integration.sample_handlers.broken_import'"
        in body["errorMessage"]
    )


def test_invoke_api_errors(lam):
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function not found"):
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    with pytest.raises(lam.exceptions.InvalidRequestContentException, match="Could not parse"):
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    dry = lam.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    queued = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"async": true}')
    assert queued["StatusCode"] == 202


def test_function_arn_and_client_context_are_accepted(lambda_cloud, lam):  # noqa: F811
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    _, body = _invoke(lam, lambda_cloud.names.function_arn("echo"), {"x": 1}, ClientContext=context)
    assert body["context"]["client_context_custom"] == {"tenant": "t1"}


def test_concurrency_is_bounded_by_reserved_concurrency(lambda_cloud):  # noqa: F811
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(lambda_cloud.invoke("sleepy", {"seconds": 0.3}))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(r.error is None for r in results)
    assert len({r.payload["pid"] for r in results}) <= 2  # reserved_concurrency=2 for sleepy
    assert len(_workers(lambda_cloud, "sleepy")) <= 2


def test_fault_switches_fail_delay_and_kill(lambda_cloud):  # noqa: F811
    status, body = lambda_cloud.control(
        "POST", "/faults", {"function": "stateful", "fail_probability": 1.0}
    )
    assert status == 200 and body["fail_probability"] == 1.0
    assert lambda_cloud.invoke("stateful", {}).error["errorType"] == "InjectedFault"

    lambda_cloud.control(
        "POST",
        "/faults",
        {"function": "stateful", "fail_probability": 0, "fail_on_substring": "POISON"},
    )
    assert lambda_cloud.invoke("stateful", {"x": "fine"}).error is None
    assert (
        lambda_cloud.invoke("stateful", {"x": "has POISON in it"}).error["errorType"]
        == "InjectedFault"
    )

    warm = lambda_cloud.invoke("stateful", {})
    lambda_cloud.control(
        "POST",
        "/faults",
        {"function": "stateful", "kill_next": True, "fail_on_substring": None, "latency_ms": 50},
    )
    killed = lambda_cloud.invoke("stateful", {})
    assert (
        killed.error["errorType"] == "Runtime.ExitError"
        and "signal: killed" in killed.error["errorMessage"]
    )
    revived = lambda_cloud.invoke("stateful", {})
    assert revived.cold_start and revived.payload["pid"] != warm.payload["pid"]
    assert revived.payload["invocations"] == 1  # a fresh process: module state starts over
    assert revived.duration_ms >= 50  # latency_ms still applies

    status, listed = lambda_cloud.control("GET", "/faults")
    assert listed == {
        "stateful": {
            "fail_probability": 0.0,
            "fail_on_substring": None,
            "latency_ms": 50,
            "kill_next": False,
        }
    }
    status, cleared = lambda_cloud.control("DELETE", "/faults")
    assert status == 200 and cleared == {}


def test_fault_switch_requests_are_validated(lambda_cloud):  # noqa: F811
    status, body = lambda_cloud.control("POST", "/faults", {"function": "nope", "latency_ms": 5})
    assert status == 400 and "no function named 'nope'" in body["message"]
    status, body = lambda_cloud.control(
        "POST", "/faults", {"function": "echo", "fail_probability": 2}
    )
    assert status == 400 and "0..1" in body["message"]
    status, body = lambda_cloud.control("POST", "/faults", {"function": "echo", "explode": True})
    assert status == 400 and "unknown fault switch" in body["message"]


def test_invoke_through_the_moto_endpoint_runs_the_real_handler(lambda_cloud):  # noqa: F811
    moto_lambda = lambda_cloud.client("lambda")  # the AWS endpoint, as `aws --endpoint-url` uses
    reply = moto_lambda.invoke(FunctionName="echo", Payload=b'{"via": "moto"}', LogType="Tail")
    body = json.loads(reply["Payload"].read())
    assert body["event"] == {"via": "moto"} and body["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "echo"
    assert "START RequestId:" in base64.b64decode(reply["LogResult"]).decode()
    failed = moto_lambda.invoke(FunctionName="sleepy", Payload=b'{"raise": "via moto"}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "via moto"
    with pytest.raises(moto_lambda.exceptions.ResourceNotFoundException):
        moto_lambda.invoke(FunctionName="not-provisioned", Payload=b"{}")
