"""The local Lambda service: runs each described function in its own worker processes.

What it emulates (AWS Lambda, Python runtime):
- Each execution environment is a long-lived process (`emulation.awslambda.worker`) with the
  function's own environment: its configured variables (resolved by `LocalNames.environment`) plus
  the variables Lambda defines (`_HANDLER`, `AWS_LAMBDA_FUNCTION_NAME`, `..._MEMORY_SIZE`,
  `..._VERSION`, `AWS_LAMBDA_LOG_GROUP_NAME`/`_STREAM_NAME`, `AWS_REGION`, `AWS_DEFAULT_REGION`,
  `AWS_EXECUTION_ENV`, `LAMBDA_TASK_ROOT`, `TZ`, credentials) and `AWS_ENDPOINT_URL` pointing at
  the local cloud. The handler module is imported once (cold start) and reused while warm, so
  module-level state persists between invocations as on AWS.
- Environments are created on demand, up to `reserved_concurrency` per function (default 4)
  (`emulation.awslambda.workers`).
- A timeout or a crash (the process exits mid-invocation) kills the environment; the next
  invocation cold-starts a new one. Errors have AWS's shapes: handler exceptions
  `{"errorMessage","errorType","requestId","stackTrace"}`, `Sandbox.Timedout`, `Runtime.ExitError`,
  init errors (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, ...).
- Handler output, with START / END / REPORT lines, goes to CloudWatch Logs (log group
  `/aws/lambda/<function>`, a stream per environment) and to `<state>/logs/lambda/<function>.log`
  (`emulation.awslambda.logs`).
- `POST /2015-03-31/functions/{name}/invocations` on the control port is the Lambda Invoke API
  (see `emulation.awslambda.invoke_api`), so `boto3.client("lambda", endpoint_url=runtime_url)` works.
- Fault switches (`emulation.awslambda.faults`) apply to every invocation.

Known gaps vs AWS: in the package docstring (`emulation.awslambda`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulation.config import REPO_ROOT

from . import logs as lambda_logs
from .faults import NO_FAULT, FaultPlan, FaultSwitches
from .invoke_api import SYNC_PAYLOAD_LIMIT, FunctionNotFound, register_invoke_api
from .workers import REPOSITORY_WORKER, FunctionPool, WorkerProcess

log = logging.getLogger("localcloud.lambda")

DEFAULT_CONCURRENCY = 4

# Keys Lambda defines itself; a function may not set them (AWS rejects such a configuration).
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)


@dataclass
class InvokeResult:
    payload: Any
    """The handler's return value (decoded JSON); None when `error` is set."""
    error: dict | None
    """AWS-shaped error (`errorMessage`, `errorType`, ...) or None."""
    duration_ms: float
    request_id: str
    cold_start: bool
    raw: bytes = field(default=b"", repr=False)
    """The response payload exactly as the Invoke API returns it (the error JSON on error)."""


class LambdaService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.names = ctx.names
        functions = ctx.resources.functions
        self.faults = FaultSwitches(f.name for f in functions)
        self.log_dir = Path(ctx.config.logs_dir) / "lambda"
        self._specs = {f.name: f for f in functions}
        self.pools: dict[str, FunctionPool] = {}
        self.log_shipper: lambda_logs.LogShipper | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if lambda_logs.enabled():
            self.log_shipper = lambda_logs.LogShipper(lambda: self.ctx.boto("logs"))
        for name, spec in self._specs.items():
            env = self.function_environment(name)
            command: tuple[str, ...] = REPOSITORY_WORKER
            cwd = str(REPO_ROOT)
            if getattr(spec, "code_dir", None):  # template mode: the function's asset, not the tree
                from emulation.cloudformation.sandbox import lambda_worker

                launch = lambda_worker(spec, self.ctx.config.state_dir)
                command, cwd = launch.command, launch.cwd
                env = {k: v for k, v in env.items() if k != "PYTHONPATH"} | launch.env
            self.pools[name] = FunctionPool(
                name,
                spec,
                env,
                self.log_dir / f"{name}.log",
                spec.reserved_concurrency or DEFAULT_CONCURRENCY,
                self.names.function_arn(name),
                self.log_shipper,
                command,
                cwd,
            )
        register_invoke_api(self.ctx.control, self)
        self.faults.register_routes(self.ctx.control)
        self.ctx.control.register("GET", r"/functions", lambda *_: (200, {}, self.status()))

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.close()
        if self.log_shipper is not None:
            self.log_shipper.close()  # the last lines, while moto is still up

    # -- the contract ---------------------------------------------------------------------------
    def function_environment(self, name: str) -> dict[str, str]:
        spec = self._specs[name]
        own = self.names.environment(name)
        clash = sorted(RESERVED_VARIABLES & set(own))
        if clash:
            raise ValueError(
                f"function {name}: environment sets reserved Lambda variable(s) {clash}"
            )
        cfg = self.ctx.config
        state = Path(cfg.state_dir)
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": str(REPO_ROOT),
            "LAMBDA_TASK_ROOT": str(REPO_ROOT),
            "LAMBDA_RUNTIME_DIR": sys.prefix,
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_REGION": cfg.region,
            "AWS_DEFAULT_REGION": cfg.region,
            "AWS_ENDPOINT_URL": cfg.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            # Never let a developer's ~/.aws profile leak into the local cloud.
            "AWS_CONFIG_FILE": str(state / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(state / "no-aws-credentials"),
            **cfg.extra_env,
            **own,
        }

    def has_function(self, name: str) -> bool:
        return name in self._specs

    def invoke(
        self, function_name: str, event: Any, *, client_context: dict | None = None
    ) -> InvokeResult:
        return self.invoke_bytes(
            function_name, json.dumps(event).encode(), client_context=client_context
        )

    def invoke_bytes(
        self,
        function_name: str,
        payload: bytes,
        *,
        client_context: dict | None = None,
        request_id: str | None = None,
    ) -> InvokeResult:
        pool = self.pools.get(function_name)
        if pool is None:
            raise FunctionNotFound(self.names.function_arn(function_name))
        request_id = request_id or str(uuid.uuid4())
        plan = self.faults.plan(function_name, payload)
        worker, cold, init_error = pool.acquire()
        if worker is None:
            failed = self._error_result(request_id, init_error or {}, 0.0, cold)
            pool.observe(failed)
            return failed
        reuse = False
        result: InvokeResult | None = None  # None: _run raised, which observe() counts as a failure
        try:
            ran, reuse = self._run(pool, worker, request_id, payload, client_context, plan, cold)
            result = ran
            return ran
        finally:
            pool.release(worker, reuse)
            pool.observe(result)

    def _run(
        self,
        pool: FunctionPool,
        worker: WorkerProcess,
        request_id: str,
        payload: bytes,
        client_context: dict | None,
        plan: FaultPlan,
        cold: bool,
    ) -> tuple[InvokeResult, bool]:
        timeout = float(pool.spec.timeout_s)
        header = {
            "request_id": request_id,
            "invoked_function_arn": pool.arn,
            "deadline_ms": int((time.time() + timeout) * 1000),
            "client_context": client_context,
        }
        if plan is not NO_FAULT:
            header.update(
                crash=plan.crash, latency_ms=plan.latency_ms, inject_error=plan.fail_message
            )
        started = time.perf_counter()
        outcome, reply, body = worker.call(header, payload, timeout)
        elapsed = (time.perf_counter() - started) * 1000
        if outcome == "timeout":
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            }
            self._log_abort(pool, worker, request_id, error, elapsed, "timeout")
            return self._error_result(request_id, error, elapsed, cold), False
        if outcome == "exit":
            self._log_abort(pool, worker, request_id, reply, elapsed, "error")
            return self._error_result(request_id, reply, elapsed, cold), False
        if reply["ok"] and len(body) > SYNC_PAYLOAD_LIMIT:
            error = {
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({SYNC_PAYLOAD_LIMIT} bytes).",
            }
            return self._error_result(request_id, error, reply["duration_ms"], cold), True
        if not reply["ok"]:
            return InvokeResult(
                None, reply["error"], reply["duration_ms"], request_id, cold, body
            ), True
        value = json.loads(body) if body else None
        return InvokeResult(value, None, reply["duration_ms"], request_id, cold, body), True

    @staticmethod
    def _error_result(request_id: str, error: dict, duration: float, cold: bool) -> InvokeResult:
        return InvokeResult(None, error, duration, request_id, cold, json.dumps(error).encode())

    @staticmethod
    def _log_abort(
        pool: FunctionPool,
        worker: WorkerProcess,
        request_id: str,
        error: dict,
        elapsed: float,
        status: str,
    ) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        worker.output.write(
            f"{now} {error['errorMessage']}\n{error['errorType']}\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\tBilled Duration: {int(elapsed) + 1} ms\t"
            f"Memory Size: {pool.spec.memory_mb} MB\tStatus: {status}\n"
        )

    def status(self) -> dict[str, Any]:
        return {
            name: {
                "workers": pool.worker_pids(),
                "limit": pool.limit,
                "cold_starts": pool.cold_starts,
                "invocations": pool.invocations,
                "errors": pool.errors,
                "busy": pool.busy(),
                "duration": pool.duration.summary(),
                "log": str(pool.log_path),
            }
            for name, pool in self.pools.items()
        }
