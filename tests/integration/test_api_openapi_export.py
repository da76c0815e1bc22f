"""The REST API's OpenAPI document as API Gateway publishes it (GetExport), and a fuzzer run against
the real local gateway with it.

The document is fetched the way a user does on AWS, with the real AWS CLI
(`aws apigateway get-export ... --export-type oas30`), from the local cloud's moto endpoint, then
given to schemathesis (its CLI, a subprocess) with the cloud's API key. Schemathesis must report
no failure with every check but `positive_data_acceptance` and `unsupported_method`:
- positive_data_acceptance expects every schema-valid request to succeed, but a JSON Schema cannot
  say that a batch uses each event id with one content, that an id was not accepted before with
  other content, or that a `next` token is one the API wrote; the API answers those with its
  documented 400, 409 and 400/409.
- unsupported_method expects 405 for a method a path lacks; API Gateway answers 403 Missing
  Authentication Token (tests/integration/test_api_hostile_transport.py holds the gateway to it).

Bounded and reproducible: `MAX_EXAMPLES` generated cases per operation in the fuzzing phase, plus
schemathesis's deterministic coverage phase (boundary values of every parameter and body field),
with a fixed `SEED`, one worker and no example database: the same cases every run, so a failure in
CI reproduces locally with the printed `st replay` id. 50 per operation makes about 770 requests,
15 s here on the 2-core machine: enough for the fuzzer to reach every documented status the API
can give without a fault (200, 400, 403, 404, 413/415 from the coverage phase), cheap enough for
every `make test`. The fuzzing of record (tens of thousands of cases) is a manual run: README.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.embedded_only(
    reason="GetExport is answered by the patched moto server; the fuzzer's POST /events writes "
    "its generated events into a private cloud, not into sinks other tests reconcile"
)

BIN = Path(sys.executable).parent
MAX_EXAMPLES = 50
SEED = 20261205
EXCLUDED_CHECKS = "positive_data_acceptance,unsupported_method"


@pytest.fixture(scope="module")
def cloud(cloud_factory):
    # No consumers: the fuzzed events stay on the stream; the tables stay empty (GETs answer 404).
    return cloud_factory(services=["lambda", "api"])


def aws(cloud, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(cloud.env(), AWS_PAGER="")
    return subprocess.run([str(BIN / "aws"), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=check)


def rest_api_id(cloud) -> str:
    return aws(cloud, "apigateway", "get-rest-apis", "--query",
               f"items[?name=='{cloud.resources.api.name}'].id | [0]", "--output", "text").stdout.strip()


def export(cloud, tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    out = tmp_path / "openapi.out"
    done = aws(cloud, "apigateway", "get-export", "--rest-api-id", rest_api_id(cloud),
               "--stage-name", cloud.resources.api.stage, "--export-type", "oas30", *extra, str(out))
    return json.loads(done.stdout), out


def test_get_export_publishes_the_document_the_stage_serves(cloud, tmp_path):
    meta, out = export(cloud, tmp_path, "--parameters", "extensions=apigateway")
    assert meta["contentType"] == "application/json"
    doc = json.loads(out.read_text())
    validate(doc)
    api = cloud.resources.api
    assert doc["servers"] == [{"url": f"{cloud.config.api_url}/{{basePath}}",
                               "variables": {"basePath": {"default": api.stage}}}]
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert set(ops) == {(r.method, r.path) for r in api.routes}
    for (method, path), op in ops.items():
        integration = op["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert f":{cloud.names.account}:function:" in integration["uri"]
        codes = set(op["responses"])
        assert {"200", "400", "403", "413", "414", "429", "431", "500", "502", "504"} <= codes, (method, path)
        if method == "GET":
            assert "404" in codes, path
        for code, response in op["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            if code >= "400":
                assert schema == {"$ref": "#/components/schemas/GatewayError"}, (method, path, code)
    assert {"415", "503"} <= set(ops[("POST", "/events")]["responses"])
    assert doc["x-amazon-apigateway-api-key-source"] == "HEADER"


def test_without_extensions_the_export_is_plain_openapi(cloud, tmp_path):
    _, out = export(cloud, tmp_path)
    text = out.read_text()
    validate(json.loads(text))
    assert "x-amazon-apigateway" not in text


def test_integrations_only_and_yaml_as_asked(cloud, tmp_path):
    meta, out = export(cloud, tmp_path, "--parameters", "extensions=integrations", "--accepts", "application/yaml")
    assert meta["contentType"] == "application/yaml"
    doc = yaml.safe_load(out.read_text())
    validate(doc)
    keys = {k for item in doc["paths"].values() for op in item.values() for k in op if k.startswith("x-")}
    assert keys == {"x-amazon-apigateway-integration"}
    assert not [k for k in doc if k.startswith("x-")]


def test_an_export_type_that_is_not_emulated_is_a_clear_aws_error(cloud, tmp_path):
    done = aws(cloud, "apigateway", "get-export", "--rest-api-id", rest_api_id(cloud), "--stage-name",
               cloud.resources.api.stage, "--export-type", "swagger", str(tmp_path / "x"), check=False)
    assert done.returncode != 0
    assert "BadRequestException" in done.stderr and "oas30" in done.stderr


def test_schemathesis_finds_no_failure_against_the_exported_document(cloud, tmp_path):
    _, out = export(cloud, tmp_path)
    schema = tmp_path / "openapi.json"
    out.rename(schema)
    done = subprocess.run(
        [str(BIN / "schemathesis"), "run", str(schema), "--url", cloud.api_url,
         "--header", f"x-api-key: {cloud.api_key}", "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
         "--generation-database", "none", "--no-color", "--report", "junit",
         "--report-junit-path", str(tmp_path / "junit.xml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )
    report = done.stdout[-6000:]
    assert done.returncode == 0, report
    assert "Tested: 4" in done.stdout, report  # every operation was exercised
    generated = int(re.search(r"(\d+) generated, \1 passed", done.stdout).group(1))
    assert generated >= 4 * MAX_EXAMPLES, report
    junit = (tmp_path / "junit.xml").read_text()
    assert 'failures="0"' in junit and 'errors="0"' in junit, junit[:2000]
