"""The REST API: every route from the description, API key on every method, a usage plan with the
description's throttle and quota, JSON-schema request validation with the same models the local
gateway enforces (`Api.models`), access logs and X-Ray tracing.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from pipeline.resource_schema import Resources

from .compliance import acknowledge, checkov_skip

_NOT_USERS = "machine-to-machine API for the replay client: callers are identified by API key and bounded by the usage plan; there are no end users to authorize"


def load_models(spec: str) -> dict[str, dict]:
    """The JSON-schema models (`module:attribute`), the dict the local gateway validates with."""
    try:
        models = pkgutil.resolve_name(spec)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RuntimeError(
            f"request models {spec!r} (Api.models in pipeline/resources.py) cannot be loaded: {exc}"
        ) from exc
    if not isinstance(models, dict):
        raise TypeError(
            f"request models {spec!r} must be a dict of name -> JSON schema, got {type(models).__name__}"
        )
    return models


class RestApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        functions: Mapping[str, lambda_.IFunction],
    ):
        super().__init__(scope, id)
        spec = resources.api
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.DESTROY,
        )
        checkov_skip(
            access_logs,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts log data at rest by default; a CMK adds cost, not protection needed here",
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=spec.name,
            description=f"{resources.project} REST API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=spec.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; AWS publishes this policy for exactly that purpose",
        )
        acknowledge(
            self.api.deployment_stage,
            "AwsSolutions-APIG3",
            "no WAF: API keys, usage-plan throttling and quota bound the callers; WAF adds $5+/month for a replay API",
        )
        checkov_skip(
            self.api.deployment_stage,
            "CKV_AWS_120",
            "no cache: every POST is a new event and GETs must see the latest upserts",
        )
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.models = self._models(
            load_models(spec.models), {r.request_model for r in spec.routes if r.request_model}
        )

        for route in spec.routes:
            resource = self.api.root.resource_for_path(route.path)
            integration = apigw.LambdaIntegration(
                functions[route.function], proxy=True, allow_test_invoke=False
            )
            params = {f"method.request.path.{p}": True for p in _path_params(route.path)}
            method = resource.add_method(
                route.method,
                integration,
                api_key_required=route.api_key_required,
                request_validator=self.validator,
                request_models={"application/json": self.models[route.request_model][0]}
                if route.request_model
                else None,
                request_parameters=params or None,
            )
            if route.request_model:
                # Referenced by name, so CloudFormation must be told to create the model first.
                method.node.add_dependency(self.models[route.request_model][1])
            acknowledge(method, "AwsSolutions-APIG4", _NOT_USERS)
            acknowledge(method, "AwsSolutions-COG4", _NOT_USERS)

        plan = spec.usage_plan
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=plan.name,
            throttle=apigw.ThrottleSettings(
                rate_limit=plan.rate_limit, burst_limit=plan.burst_limit
            ),
            quota=apigw.QuotaSettings(
                limit=plan.quota_limit, period=apigw.Period[plan.quota_period]
            ),
        )
        self.usage_plan.add_api_stage(stage=self.api.deployment_stage)
        self.api_keys = {}
        for key_name in plan.api_keys:
            key = self.api.add_api_key(
                f"Key-{key_name}", api_key_name=key_name, description=f"{plan.name}: {key_name}"
            )
            self.usage_plan.add_api_key(key)
            self.api_keys[key_name] = key

    def _models(
        self, models: dict[str, dict], needed: set[str]
    ) -> dict[str, tuple[apigw.IModel, apigw.CfnModel]]:
        missing = needed - models.keys()
        if missing:
            raise RuntimeError(
                f"routes name request models {sorted(missing)} that {sorted(models)} does not define"
            )
        out = {}
        for name in sorted(needed):
            cfn = apigw.CfnModel(
                self,
                f"Model-{name}",
                rest_api_id=self.api.rest_api_id,
                name=name,
                content_type="application/json",
                schema=models[name],
            )
            model = apigw.Model.from_model_name(self, f"ModelRef-{name}", name)
            out[name] = (model, cfn)
        return out


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]
