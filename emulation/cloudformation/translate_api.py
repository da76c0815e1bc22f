"""The template's REST API -> `model.InlineModelsApi`: routes from its resources and methods, the
request models inline, the stage, the usage plan and the keys attached to it.

A method's body is validated only when it names a model *and* its request validator validates
bodies, as on API Gateway. Methods the local gateway cannot serve (other integration types,
authorizers, ANY) are listed as not run.
"""

from __future__ import annotations

import json
import re

from pipeline.resource_schema import Route, UsagePlan

from .assembly import TemplateError
from .model import InlineModelsApi

_FUNCTION = re.compile(r":function:([A-Za-z0-9_-]+)(?::[^/]+)?/invocations$")
_SERVED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
ACCOUNT_THROTTLE = (10_000.0, 5_000)
"""API Gateway's account-level limits (rps, burst): what a plan without a throttle gets."""


def api(t) -> InlineModelsApi:
    apis = t.of_type("AWS::ApiGateway::RestApi")
    if len(apis) != 1:
        raise TemplateError(
            f"template mode serves exactly one REST API; the template has {len(apis)}"
        )
    api_id = apis[0]
    root = t.ids.attribute(api_id, "RootResourceId", "")
    paths = _paths(t, root)
    validators = {
        t.ids.ref(lid, ""): bool(t.props(lid, "ValidateRequestBody"))
        for lid in t.of_type("AWS::ApiGateway::RequestValidator")
    }
    models = {}
    for lid in t.of_type("AWS::ApiGateway::Model"):
        schema = t.props(lid, "Schema")
        models[t.ids.name(lid)] = json.loads(schema) if isinstance(schema, str) else schema
    routes = []
    for lid in t.of_type("AWS::ApiGateway::Method"):
        route = _route(t, lid, paths, validators)
        if route is not None:
            routes.append(route)
    stages = t.of_type("AWS::ApiGateway::Stage")
    if len(stages) != 1:
        raise TemplateError(
            f"template mode serves exactly one stage; the template has {len(stages)}"
        )
    return InlineModelsApi(
        name=t.props(api_id, "Name") or t.ids.generated_name(api_id),
        stage=t.ids.name(stages[0]),
        routes=tuple(routes),
        usage_plan=_usage_plan(t),
        models=models,
    )


def _paths(t, root: str) -> dict[str, str]:
    """Resource id -> path (`/customers/{customer_id}`), following ParentId up to the root."""
    parents = {
        t.ids.ref(lid, ""): (t.props(lid, "ParentId"), t.props(lid, "PathPart"))
        for lid in t.of_type("AWS::ApiGateway::Resource")
    }
    paths = {root: "/"}

    def path(resource_id: str, depth: int = 0) -> str:
        if resource_id not in paths:
            if resource_id not in parents or depth > 64:
                raise TemplateError(f"API resource {resource_id} has no path to the API's root")
            parent, part = parents[resource_id]
            paths[resource_id] = path(parent, depth + 1).rstrip("/") + "/" + part
        return paths[resource_id]

    for resource_id in parents:
        path(resource_id)
    return paths


def _route(t, lid: str, paths: dict[str, str], validators: dict[str, bool]) -> Route | None:
    p = t.props(lid)
    method = p.get("HttpMethod", "")
    integration = p.get("Integration") or {}
    if method not in _SERVED_METHODS:
        t.skip(lid, f"method {method}: the local gateway serves {', '.join(_SERVED_METHODS)}")
        return None
    if integration.get("Type") != "AWS_PROXY":
        t.skip(
            lid, f"integration {integration.get('Type')}: only Lambda proxy integrations are served"
        )
        return None
    if p.get("AuthorizationType", "NONE") != "NONE":
        raise TemplateError(
            f"{lid}: authorization {p['AuthorizationType']} is not emulated; requests would "
            "pass that AWS refuses"
        )
    match = _FUNCTION.search(str(integration.get("Uri", "")))
    if match is None:
        raise TemplateError(
            f"{lid}: integration URI {integration.get('Uri')} names no Lambda function"
        )
    model = (p.get("RequestModels") or {}).get("application/json")
    validated = validators.get(p.get("RequestValidatorId"), False)
    return Route(
        method=method,
        path=paths[p["ResourceId"]],
        function=match.group(1),
        request_model=model if model and validated else None,
        api_key_required=bool(p.get("ApiKeyRequired", False)),
    )


def _usage_plan(t) -> UsagePlan:
    plans = t.of_type("AWS::ApiGateway::UsagePlan")
    if len(plans) != 1:
        raise TemplateError(
            f"template mode serves exactly one usage plan; the template has {len(plans)}"
        )
    plan = plans[0]
    p = t.props(plan)
    throttle, quota = p.get("Throttle") or {}, p.get("Quota") or {}
    plan_id = t.ids.ref(plan, "")
    keys = []
    for lid in t.of_type("AWS::ApiGateway::UsagePlanKey"):
        if t.props(lid, "UsagePlanId") == plan_id:
            key = t.logical_id_of("AWS::ApiGateway::ApiKey", t.props(lid, "KeyId"))
            if key is not None:
                keys.append(t.props(key, "Name") or t.ids.generated_name(key))
    if not keys:
        raise TemplateError(f"usage plan {plan}: no API key is attached to it (UsagePlanKey)")
    return UsagePlan(
        name=p.get("UsagePlanName") or t.ids.generated_name(plan),
        rate_limit=float(throttle.get("RateLimit", ACCOUNT_THROTTLE[0])),
        burst_limit=int(throttle.get("BurstLimit", ACCOUNT_THROTTLE[1])),
        # No quota on AWS means none; the description needs a number: more than a day can take.
        quota_limit=int(quota.get("Limit", 2**31 - 1)),
        quota_period=quota.get("Period", "DAY"),
        api_keys=tuple(keys),
    )
