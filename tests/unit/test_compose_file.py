"""Static checks of the Docker harness: no Docker engine runs here, so compose.yaml is proven by
validating it against the Compose specification's schema and against the embedded target."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from emulation.config import CloudConfig
from emulation.control.compose import GLUE_PORT
from pipeline.resources import PIPELINE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()


def compose_schema() -> dict:
    path = importlib.resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    return json.loads(path.read_text())


def test_compose_file_is_valid_against_the_compose_specification():
    jsonschema.validate(COMPOSE, compose_schema())


def test_schema_check_would_catch_a_broken_file():
    broken = {"services": {"x": {"imagee": "a", "healthcheck": {"retries": "many"}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def published_ports(service: str) -> set[int]:
    ports = set()
    for spec in COMPOSE["services"][service].get("ports", []):
        host_part = spec.rsplit(":", 1)[0]
        ports.add(int(host_part.rsplit(":", 1)[-1]))
    return ports


def test_ports_match_the_embedded_target():
    defaults = CloudConfig()
    assert published_ports("localstack") == {defaults.aws_port}
    assert published_ports("runtime") == {defaults.api_port, defaults.runtime_port}
    assert published_ports("warehouse") == {defaults.warehouse_port}
    # The embedded moto serves Glue on the AWS port; LocalStack community has no Glue, so the
    # harness's glue-catalog gets a port of its own, the one `make env STACK=compose` prints.
    assert published_ports("glue-catalog") == {GLUE_PORT}
    assert GLUE_PORT not in {defaults.aws_port, defaults.api_port, defaults.runtime_port,
                             defaults.warehouse_port}


def test_glue_catalog_is_published_from_the_port_it_listens_on():
    service = COMPOSE["services"]["glue-catalog"]
    command = service["command"]
    listens = int(command[command.index("--port") + 1])
    assert [int(spec.rsplit(":", 1)[1]) for spec in service["ports"]] == [listens]
    # ...and the containers reach it there by service name.
    assert COMPOSE["x-aws-env"]["AWS_ENDPOINT_URL_GLUE"] == f"http://glue-catalog:{listens}"


def test_ports_are_published_on_loopback_only():
    for name, service in COMPOSE["services"].items():
        for spec in service.get("ports", []):
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {spec} beyond loopback"


def test_localstack_is_pinned_to_a_community_tag_and_overridable():
    image = COMPOSE["services"]["localstack"]["image"]
    match = re.fullmatch(r"\$\{LOCALSTACK_IMAGE:-localstack/localstack:(\d+)\.(\d+)\.(\d+)\}", image)
    assert match, f"LocalStack image must be a pinned, overridable 4.x tag, got {image}"
    assert match.group(1) == "4"
    assert "LOCALSTACK_AUTH_TOKEN" in COMPOSE["services"]["localstack"]["environment"]


def test_localstack_serves_every_aws_service_the_description_needs():
    enabled = set(COMPOSE["services"]["localstack"]["environment"]["SERVICES"].split(","))
    needed = {"kinesis", "dynamodb", "s3", "sqs", "secretsmanager", "iam", "apigateway", "lambda"}
    if PIPELINE.firehoses:
        needed.add("firehose")
    assert needed <= enabled


def test_every_variable_has_a_default_or_is_an_optional_token():
    optional_without_default = {"LOCALSTACK_AUTH_TOKEN"}
    for name, default in re.findall(r"\$\{([A-Z0-9_]+)(:-[^}]*)?\}", COMPOSE_TEXT):
        assert default or name in optional_without_default, f"${{{name}}} has no default"


def test_no_secret_values_in_the_file():
    for service in COMPOSE["services"].values():
        env = service.get("environment", {})
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and key not in {"AWS_SECRET_ACCESS_KEY"}:
                assert key.endswith("_FILE") or str(value).startswith("${"), f"{key} holds a value"
    assert all("file" in s for s in COMPOSE["secrets"].values())


def test_secret_files_live_in_the_ignored_state_folder():
    ignored = (ROOT / ".gitignore").read_text().split()
    for secret in COMPOSE["secrets"].values():
        path = Path(secret["file"])
        assert path.parts[0] == ".localcloud" and ".localcloud/" in ignored


def test_build_contexts_and_copied_paths_exist():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists(), name
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"


def test_commands_name_modules_that_exist():
    for name, service in COMPOSE["services"].items():
        command = service.get("command") or []
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: {command[2]} missing"


def test_mounted_paths_exist():
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
