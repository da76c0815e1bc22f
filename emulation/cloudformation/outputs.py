"""A template's Outputs evaluated in the local cloud (see `steps.outputs`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .assembly import read_stack
from .intrinsics import Unresolvable
from .physical import URL_SUFFIX

OUTPUTS_FILE = "stack-outputs.json"
"""Where `steps.outputs` writes the evaluated outputs, in the state folder."""


def read_outputs(state_dir) -> dict[str, str]:
    """OutputKey -> OutputValue of what the outputs step wrote ({} before it ran)."""
    path = Path(state_dir) / OUTPUTS_FILE
    if not path.exists():
        return {}
    return {
        o["OutputKey"]: o["OutputValue"]
        for o in json.loads(path.read_text())["Outputs"]
        if o.get("OutputValue") is not None
    }


def evaluate_outputs(resources, config, client) -> list[dict]:
    """`[{"OutputKey","OutputValue","Description"}]`; `client(service)` is a boto3 client factory."""
    from .translate import ACCOUNT, Translator

    stack = read_stack(resources.assembly)
    known = assigned_ids(stack, resources, client)
    translator = Translator(stack, ACCOUNT, known)
    api_id = next(
        (
            v
            for (lid, attr), v in known.items()
            if attr is None
            and stack.template["Resources"][lid]["Type"] == "AWS::ApiGateway::RestApi"
        ),
        None,
    )
    local = re.compile(
        rf"https://{re.escape(api_id or '-')}\.execute-api\.{re.escape(stack.region)}"
        rf"\.{re.escape(URL_SUFFIX)}/"
    )
    outputs = []
    for key, spec in stack.template.get("Outputs", {}).items():
        entry = {"OutputKey": key, "Description": spec.get("Description", "")}
        try:
            value = translator.evaluator.value(spec["Value"], f"Outputs.{key}")
            entry["OutputValue"] = local.sub(f"{config.api_url}/", str(value))
        except Unresolvable as exc:
            entry["OutputValue"], entry["Unresolved"] = None, str(exc)
        outputs.append(entry)
    return outputs


def assigned_ids(stack, resources, client) -> dict:
    """(logical id, None) -> the id the local cloud assigned, for types whose Ref AWS assigns."""
    from .translate import ACCOUNT, Translator

    base = Translator(stack, ACCOUNT)
    apigateway, secrets = client("apigateway"), client("secretsmanager")
    assigned = {
        "AWS::ApiGateway::RestApi": (
            "Name",
            {a["name"]: a["id"] for a in apigateway.get_rest_apis(limit=500).get("items", [])},
        ),
        "AWS::ApiGateway::ApiKey": (
            "Name",
            {k["name"]: k["id"] for k in apigateway.get_api_keys(limit=500).get("items", [])},
        ),
        "AWS::ApiGateway::UsagePlan": (
            "UsagePlanName",
            {p["name"]: p["id"] for p in apigateway.get_usage_plans(limit=500).get("items", [])},
        ),
    }
    known: dict = {}
    for lid, resource in stack.template["Resources"].items():
        kind = resource["Type"]
        if kind in assigned:
            prop, ids = assigned[kind]
            name = base.props(lid, prop)
            if name in ids:
                known[(lid, None)] = ids[name]
        elif kind == "AWS::SecretsManager::Secret":
            try:
                known[(lid, None)] = secrets.describe_secret(SecretId=base.ids.name(lid))["ARN"]
            except secrets.exceptions.ResourceNotFoundException:
                pass
    return known


def stack_template(outputs: list[dict]) -> dict:
    """A stack for moto's CloudFormation holding the evaluated outputs (one placeholder resource:
    CloudFormation requires at least one)."""
    return {
        "Description": "template mode: the outputs of the stack the local cloud runs",
        "Resources": {"LocalCloud": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            o["OutputKey"]: {"Value": o["OutputValue"], "Description": o["Description"]}
            for o in outputs
            if o.get("OutputValue") is not None
        },
    }


def api_from_outputs(config, client) -> dict[str, str]:
    """API_URL and API_KEY from the stack's outputs, as `python -m deploy env` takes them from the
    deployed stack's: the `ApiUrl` output, and the value of the key an `ApiKeyId*` output names."""
    outputs = read_outputs(config.state_dir)
    values = {}
    if outputs.get("ApiUrl"):
        values["API_URL"] = outputs["ApiUrl"].rstrip("/")
    key_id = next((v for k, v in sorted(outputs.items()) if k.startswith("ApiKeyId")), None)
    if key_id:
        values["API_KEY"] = client("apigateway").get_api_key(apiKey=key_id, includeValue=True)[
            "value"
        ]
    return values
