"""Provision step 'api': the REST API, its stage, usage plan and API keys in moto's API Gateway.

What a user then sees is what AWS shows after a deploy: `aws apigateway get-rest-apis`,
`get-resources` (methods with `apiKeyRequired`, AWS_PROXY integrations, request models and
validators), `get-usage-plans` and `get-api-keys --include-values`. The local gateway
(`emulation.apigateway.service`) enforces them; moto only stores them.

Resources and methods are created one by one from the OpenAPI document (`pipeline.openapi`):
moto's `import_rest_api` drops `apiKeyRequired`, models and validators, and moto has no
`update_method` to add them afterwards.

Each key's value is random (40 letters and digits), generated once and kept in the state folder
(`<state>/api_key` for the plan's first key, `<state>/api_key.<name>` for others; mode 600), so a
second `make up` reuses it. It is never printed or logged; `make env` / the replay client read
the file.

Idempotent: everything is looked up by name first and only what is missing is created.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
from pathlib import Path
from typing import Any

from emulation.config import CloudConfig
from pipeline.openapi import build_openapi, lambda_integration_uri, load_models, path_parameters

log = logging.getLogger("localcloud.provision")

KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40


def key_file(state_dir: Path, key_names: tuple[str, ...], name: str) -> Path:
    """Where the value of API key `name` is kept (the first key of the plan is `api_key`)."""
    if key_names and name == key_names[0]:
        return Path(state_dir) / "api_key"
    return Path(state_dir) / f"api_key.{name}"


def read_api_key(state_dir: Path, resources) -> str:
    """The value of the usage plan's first key, for clients of the local cloud."""
    names = resources.api.usage_plan.api_keys
    path = key_file(state_dir, names, names[0])
    if not path.exists():
        raise FileNotFoundError(f"no API key in {path}: run `make up` to provision the local cloud")
    return path.read_text().strip()


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open


def _new_key_value() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def _client(config: CloudConfig):
    import boto3

    return boto3.client(
        "apigateway",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def provision(config: CloudConfig, resources, names, client=None) -> dict[str, str]:
    """Create what is missing; returns `{"api_id", "usage_plan_id"}` (never key values)."""
    api = resources.api
    client = client or _client(config)
    models = load_models(api)
    document = build_openapi(
        resources,
        integration_uri=lambda fn: lambda_integration_uri(config.region, names.account, fn),
        models=models,
    )
    api_id = _ensure_rest_api(client, api.name, document)
    used = {r.request_model for r in api.routes if r.request_model}
    _ensure_models(client, api_id, {name: models[name] for name in sorted(used)})
    validators = _ensure_validators(client, api_id, document)
    _ensure_methods(client, api_id, document, validators)
    stages = {s["stageName"] for s in client.get_stages(restApiId=api_id).get("item", [])}
    if api.stage not in stages:
        client.create_deployment(restApiId=api_id, stageName=api.stage, description="local cloud")
    plan_id = _ensure_usage_plan(client, api_id, api.stage, api.usage_plan)
    for name in api.usage_plan.api_keys:
        _ensure_key(client, config.state_dir, api.usage_plan.api_keys, name, plan_id)
    log.info("REST API %s (%s) stage %s with usage plan %s", api.name, api_id, api.stage, plan_id)
    return {"api_id": api_id, "usage_plan_id": plan_id}


def _ensure_rest_api(client, name: str, document: dict) -> str:
    for item in client.get_rest_apis(limit=500).get("items", []):
        if item["name"] == name:
            return item["id"]
    created = client.create_rest_api(
        name=name,
        description=document["info"]["description"],
        apiKeySource="HEADER",
        endpointConfiguration={"types": ["REGIONAL"]},
    )
    return created["id"]


def _ensure_models(client, api_id: str, models: dict[str, dict]) -> None:
    """The route models as API Gateway stores them: self-contained draft-04 documents."""
    existing = {m["name"] for m in client.get_models(restApiId=api_id).get("items", [])}
    for name, schema in models.items():
        if name not in existing:
            client.create_model(
                restApiId=api_id,
                name=name,
                contentType="application/json",
                schema=json.dumps(schema),
            )


def _ensure_validators(client, api_id: str, document: dict) -> dict[str, str]:
    existing = {
        v["name"]: v["id"] for v in client.get_request_validators(restApiId=api_id).get("items", [])
    }
    for name, spec in document.get("x-amazon-apigateway-request-validators", {}).items():
        if name not in existing:
            existing[name] = client.create_request_validator(
                restApiId=api_id,
                name=name,
                validateRequestBody=spec["validateRequestBody"],
                validateRequestParameters=spec["validateRequestParameters"],
            )["id"]
    return existing


def _ensure_resource(client, api_id: str, path: str, by_path: dict[str, dict]) -> str:
    if path in by_path:
        return by_path[path]["id"]
    parent_path, _, part = path.rpartition("/")
    parent_id = _ensure_resource(client, api_id, parent_path or "/", by_path)
    created = client.create_resource(restApiId=api_id, parentId=parent_id, pathPart=part)
    by_path[path] = created
    return created["id"]


def _ensure_methods(client, api_id: str, document: dict, validators: dict[str, str]) -> None:
    by_path = {
        r["path"]: r for r in client.get_resources(restApiId=api_id, limit=500).get("items", [])
    }
    for path, item in document["paths"].items():
        resource_id = _ensure_resource(client, api_id, path, by_path)
        have = set((by_path[path].get("resourceMethods") or {}).keys())
        for method, op in item.items():
            http_method = method.upper()
            if http_method in have:
                continue
            kwargs: dict[str, Any] = {}
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                kwargs["requestModels"] = {
                    "application/json": body["schema"]["$ref"].rsplit("/", 1)[-1]
                }
            if op.get("x-amazon-apigateway-request-validator"):
                kwargs["requestValidatorId"] = validators[
                    op["x-amazon-apigateway-request-validator"]
                ]
            params = path_parameters(path)
            if params:
                kwargs["requestParameters"] = {f"method.request.path.{p}": True for p in params}
            client.put_method(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod=http_method,
                authorizationType="NONE",
                apiKeyRequired=bool(op.get("security")),
                operationName=op["operationId"],
                **kwargs,
            )
            integration = op["x-amazon-apigateway-integration"]
            client.put_integration(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod=http_method,
                type="AWS_PROXY",
                integrationHttpMethod="POST",
                uri=integration["uri"],
                timeoutInMillis=integration["timeoutInMillis"],
            )


def _ensure_usage_plan(client, api_id: str, stage: str, plan) -> str:
    for item in client.get_usage_plans(limit=500).get("items", []):
        if item["name"] == plan.name:
            return item["id"]
    created = client.create_usage_plan(
        name=plan.name,
        description="Throttle and quota for the replay clients",
        apiStages=[{"apiId": api_id, "stage": stage}],
        throttle={"burstLimit": plan.burst_limit, "rateLimit": plan.rate_limit},
        quota={"limit": plan.quota_limit, "period": plan.quota_period},
    )
    return created["id"]


def _ensure_key(
    client, state_dir: Path, key_names: tuple[str, ...], name: str, plan_id: str
) -> None:
    path = key_file(state_dir, key_names, name)
    stored = path.read_text().strip() if path.exists() else ""
    found = [
        k
        for k in client.get_api_keys(nameQuery=name, includeValues=True, limit=500).get("items", [])
        if k["name"] == name
    ]
    if found:
        key_id, value = found[0]["id"], found[0]["value"]
    else:
        value = stored or _new_key_value()
        key_id = client.create_api_key(
            name=name, description=f"API key '{name}' of the local cloud", enabled=True, value=value
        )["id"]
    if value != stored:
        _write_secret(path, value)
    attached = {
        k["id"] for k in client.get_usage_plan_keys(usagePlanId=plan_id, limit=500).get("items", [])
    }
    if key_id not in attached:
        client.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
