"""The REST API stage of the local cloud: API Gateway's data plane, which moto does not serve.

`http://127.0.0.1:<api_port>/<stage>/<path>` answers as an API Gateway REST API with Lambda proxy
integrations does. Each request goes through API Gateway's checks in its order, and a request
refused by one of them invokes nothing and writes nothing:

    body larger than api.max_body_bytes        413 {"message": "Request Too Long"}
    no resource/method for stage+path          403 {"message": "Missing Authentication Token"}
    x-api-key missing, unknown or disabled     403 {"message": "Forbidden"}
    usage-plan rate/burst exceeded             429 {"message": "Too Many Requests"}
    usage-plan quota exceeded                  429 {"message": "Limit Exceeded"}
    content type not JSON (route with model)   415 {"message": "Unsupported Media Type"}
    body not JSON / not matching the model     400 {"message": "Invalid request body", "errors": [...]}
    function error or malformed response       502 {"message": "Internal server error"}
    no answer within the integration timeout   504 {"message": "Endpoint request timed out"}

Then the function (`ctx.service("lambda").invoke`) receives the REST proxy event and its answer
becomes the HTTP response (`emulation.apigateway.proxy`). Routes come from the OpenAPI document of
`pipeline.openapi`; keys and plans from moto (`emulation.apigateway.keys`). Gateway errors carry
`x-amzn-ErrorType` and every response `x-amzn-RequestId`, as on AWS.

The server is a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive and TCP_NODELAY, one thread
per client connection; `emulation.apigateway.transport` answers what never reaches a route (framing,
request line and header limits, unknown methods, HTTP versions), in JSON as well.

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from pipeline.openapi import build_openapi, lambda_integration_uri, load_models

from .keys import ApiDirectory, ApiKeyStore, read_from_aws, read_from_state
from .metrics import ApiMetrics, batch_size
from .proxy import ApiIdentity, Caller, MalformedProxyResponse, proxy_event, proxy_response
from .routing import RouteTable
from .throttle import PlanLimits, UsagePlanLimiter, Verdict
from .transport import BadFraming, RequestTooLong, handler_class
from .validation import BodyProblem, ModelValidator

log = logging.getLogger("localcloud.api")

INTEGRATION_TIMEOUT_S = 29.0


@dataclass(frozen=True)
class GatewayError:
    status: int
    message: str
    error_type: str | None


MISSING_AUTH_TOKEN = GatewayError(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
FORBIDDEN = GatewayError(403, "Forbidden", "ForbiddenException")
TOO_MANY_REQUESTS = GatewayError(429, "Too Many Requests", "TooManyRequestsException")
LIMIT_EXCEEDED = GatewayError(429, "Limit Exceeded", "LimitExceededException")
REQUEST_TOO_LONG = GatewayError(413, "Request Too Long", None)
INTERNAL_ERROR = GatewayError(502, "Internal server error", "InternalServerErrorException")
TIMED_OUT = GatewayError(504, "Endpoint request timed out", None)

Invoke = Callable[[str, dict], Any]
"""`invoke(function_name, event) -> InvokeResult` (see docs/internals.md)."""


class ApiGateway:
    """The data plane: request in, response out. Independent of the runtime so tests can drive it."""

    def __init__(
        self,
        routes: RouteTable,
        validator: ModelValidator,
        keys: ApiKeyStore,
        invoke: Invoke,
        identity: ApiIdentity,
        max_body_bytes: int,
        function_timeouts: dict[str, float] | None = None,
        limiter: UsagePlanLimiter | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    ):
        self.routes = routes
        self.validator = validator
        self.keys = keys
        self.invoke = invoke
        self.identity = identity
        self.max_body_bytes = max_body_bytes
        self.function_timeouts = function_timeouts or {}
        self.limiter = limiter or UsagePlanLimiter()
        self.integration_timeout_s = integration_timeout_s
        self._slow_calls = ThreadPoolExecutor(max_workers=16, thread_name_prefix="api-invoke")
        self.metrics = ApiMetrics()
        self._batch = threading.local()  # the events of the request this thread is answering
        self.httpd: ThreadingHTTPServer | None = None

    # -- request pipeline -----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        target: str,
        header_pairs: list[tuple[str, str]],
        read_body: Callable[[], bytes],
        source_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        started = time.perf_counter()
        self._batch.events = None
        status, headers, body = self._answer(method, target, header_pairs, read_body, source_ip)
        self.metrics.record(
            status, self._batch.events, body, (time.perf_counter() - started) * 1000
        )
        return status, headers, body

    def _answer(
        self,
        method: str,
        target: str,
        header_pairs: list[tuple[str, str]],
        read_body: Callable[[], bytes],
        source_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        request_id = str(uuid.uuid4())
        raw_path, _, query = target.partition("?")
        headers = {k.lower(): v for k, v in header_pairs}
        try:
            body = read_body()
        except RequestTooLong:
            return self._error(REQUEST_TOO_LONG, request_id)
        except BadFraming as exc:
            return self._json(400, {"message": str(exc)}, "BadRequestException", request_id)
        match = self.routes.match(method, raw_path)
        if match is None:
            return self._error(MISSING_AUTH_TOKEN, request_id)
        route = match.route
        caller = Caller(source_ip=source_ip, user_agent=headers.get("user-agent"))
        if route.api_key_required:
            key = (
                self.keys.lookup(headers.get("x-api-key", "")) if headers.get("x-api-key") else None
            )
            if key is None:
                return self._error(FORBIDDEN, request_id)
            verdict = self.limiter.admit(key.id, key.limits)
            if verdict is Verdict.THROTTLED:
                return self._error(TOO_MANY_REQUESTS, request_id)
            if verdict is Verdict.QUOTA_EXCEEDED:
                return self._error(LIMIT_EXCEEDED, request_id)
            caller.api_key, caller.api_key_id = headers["x-api-key"], key.id
        if route.model:
            document, problem = self.validator.check(route.model, headers.get("content-type"), body)
            self._batch.events = batch_size(document)
            if problem is not None:
                return self._problem(problem, request_id)
        event = proxy_event(
            self.identity,
            match,
            method,
            raw_path,
            query,
            header_pairs,
            body,
            caller,
            request_id=request_id,
        )
        return self._integrate(route.function, event, request_id)

    def _integrate(self, function: str, event: dict, request_id: str):
        try:
            if self.function_timeouts.get(function, 0) <= self.integration_timeout_s:
                result = self.invoke(function, event)
            else:  # the function may outlive API Gateway's patience: wait on it in a pool thread
                future = self._slow_calls.submit(self.invoke, function, event)
                try:
                    result = future.result(timeout=self.integration_timeout_s)
                except FutureTimeout:
                    log.warning(
                        "%s did not answer within %.0f s (request %s)",
                        function,
                        self.integration_timeout_s,
                        request_id,
                    )
                    return self._error(TIMED_OUT, request_id)
        except Exception:
            log.exception("invoking %s failed (request %s)", function, request_id)
            return self._error(INTERNAL_ERROR, request_id)
        if getattr(result, "error", None):
            error = result.error
            log.info(
                "%s failed: %s %s (request %s)",
                function,
                error.get("errorType"),
                str(error.get("errorMessage", ""))[:200],
                request_id,
            )
            return self._error(INTERNAL_ERROR, request_id)
        try:
            response = proxy_response(getattr(result, "payload", result))
        except MalformedProxyResponse as exc:
            log.warning(
                "Execution failed due to configuration error: Malformed Lambda proxy "
                "response from %s: %s (request %s)",
                function,
                exc,
                request_id,
            )
            return self._error(INTERNAL_ERROR, request_id)
        headers = response.headers + [
            ("x-amzn-RequestId", request_id),
            ("x-amz-apigw-id", request_id[:16]),
        ]
        return response.status, headers, response.body

    def _error(self, error: GatewayError, request_id: str):
        return self._json(error.status, {"message": error.message}, error.error_type, request_id)

    def _problem(self, problem: BodyProblem, request_id: str):
        kind = "BadRequestException" if problem.status == 400 else None
        return self._json(problem.status, problem.body(), kind, request_id)

    @staticmethod
    def _json(status: int, doc: dict, error_type: str | None, request_id: str):
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        return status, headers, json.dumps(doc).encode()

    # -- HTTP server ----------------------------------------------------------------------------
    def serve(self, host: str, port: int) -> None:
        self.httpd = ThreadingHTTPServer(
            (host, port), handler_class(self.handle, lambda: self.max_body_bytes)
        )
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 128
        threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="api-gateway", daemon=True
        ).start()

    def shutdown(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        self._slow_calls.shutdown(wait=False, cancel_futures=True)


def build_gateway(
    config,
    resources,
    invoke: Invoke,
    directory: ApiDirectory | None,
    reload: Callable[[], dict | None] | None = None,
) -> ApiGateway:
    """Wire the data plane from the description and what the control plane knows."""
    api = resources.api
    models = load_models(api)
    document = build_openapi(
        resources,
        integration_uri=lambda fn: lambda_integration_uri(config.region, _account(), fn),
        models=models,
    )
    plan = api.usage_plan
    if directory is None:
        limits = PlanLimits(plan.rate_limit, plan.burst_limit, plan.quota_limit, plan.quota_period)
        keys = read_from_state(config.state_dir, plan.api_keys, limits)
        api_id, resource_ids = _local_api_id(api.name), {}
        log.warning(
            "REST API %r is not in moto (not provisioned?): serving with %d key(s) from %s",
            api.name,
            len(keys),
            config.state_dir,
        )
    else:
        keys, api_id, resource_ids = directory.keys, directory.api_id, directory.resource_ids
    return ApiGateway(
        routes=RouteTable.from_openapi(document, api.stage, resource_ids),
        validator=ModelValidator(
            {name: models[name] for name in document["components"]["schemas"] if name in models}
        ),
        keys=ApiKeyStore(keys, reload),
        invoke=invoke,
        identity=ApiIdentity(
            account_id=_account(),
            api_id=api_id,
            stage=api.stage,
            domain_name=f"{api_id}.execute-api.{config.region}.amazonaws.com",
        ),
        max_body_bytes=api.max_body_bytes,
        function_timeouts={f.name: float(f.timeout_s) for f in resources.functions},
    )


def _account() -> str:
    from emulation.config import ACCOUNT_ID

    return ACCOUNT_ID


def _local_api_id(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:10]


class ApiGatewayService:
    """Runtime service `api`: serves the stage on `config.api_port` until `stop()`."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.gateway: ApiGateway | None = None

    def start(self) -> None:
        ctx = self.ctx
        api = ctx.resources.api
        if "lambda" not in ctx.services:
            raise RuntimeError(
                "the api service needs the lambda service: start the runtime with both"
            )
        client = ctx.boto("apigateway")
        try:
            directory = read_from_aws(client, api.name, api.stage)
        except Exception as exc:  # noqa: BLE001 - moto unreachable: serve the keys kept in the state folder
            log.warning("cannot read API Gateway from %s (%s)", ctx.config.aws_endpoint, exc)
            directory = None

        def reload() -> dict | None:
            fresh = read_from_aws(client, api.name, api.stage)
            return fresh.keys if fresh else None

        lam = ctx.service("lambda")
        self.gateway = build_gateway(
            ctx.config, ctx.resources, lam.invoke, directory, reload if directory else None
        )
        self.gateway.serve(ctx.config.host, ctx.config.api_port)
        from .export import register_export_route

        register_export_route(ctx.control, ctx.config, ctx.resources, _account())
        ctx.control.register(
            "GET", r"/api/metrics", lambda *_: (200, {}, self.gateway.metrics.snapshot())
        )
        log.info(
            "REST API %s stage %s on http://%s:%d/%s/ (%d key(s), %d route(s))",
            api.name,
            api.stage,
            ctx.config.host,
            ctx.config.api_port,
            api.stage,
            len(self.gateway.keys),
            len(self.gateway.routes.routes),
        )

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway = None
