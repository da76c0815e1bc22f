"""Template mode (`make up FROM=cdk.out`) end to end: the local cloud runs the synthesized artifact.

- The proof: in a copy of the tree, synthesized, every module of pipeline/handlers/ and
  pipeline/glue/ is replaced by one that raises ImportError; a cloud started *by the copy* from its
  assembly still replays the sample end to end, batch job included, and every sink reconciles.
  Nothing of the working tree may be on a function's or the job's path for that to pass, and the
  replay client (also the copy's) must need nothing of the deployment code either.
- Settings follow the template: a copy of the assembly with a mapping's BatchSize, the usage
  plan's throttle, a function's environment variable, Firehose's buffering and retry duration and
  a Glue DefaultArgument edited, and the cloud observed doing what the edited template says.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from emulation.control.cloud import LocalCloud
from emulation.cloudformation.translate import spec_for
from emulation.config import CloudConfig
from pipeline.source import SourceFile, read_events

from .stream_support import SAMPLE, SAMPLE_FIGURES
from .template_support import break_deployment_code, edit_template, of_type, start_from_copy, tree_env

pytestmark = [
    pytest.mark.embedded_only(reason="starts private clouds from a synthesized template"),
    pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1500),
]
SINKS = ("dynamodb", "s3 archive", "warehouse stream", "warehouse batch")


@pytest.fixture(scope="module")
def proof_run(synthesized_tree, tmp_path_factory):
    """The copy's own cloud, from its assembly, with its deployment code broken; then `make e2e`."""
    work = tmp_path_factory.mktemp("proof")
    assembly = shutil.copytree(synthesized_tree.assembly, work / "assembly", symlinks=True)
    broken = break_deployment_code(synthesized_tree.root)
    state = work / "state"
    started = start_from_copy(synthesized_tree.root, assembly, state)
    cloud = LocalCloud(CloudConfig.load(state)) if (state / "cloud.json").exists() else None
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
        out = work / "reconciliation.json"
        done = subprocess.run(  # the replay client of the copy too: it must not need the broken code
            [sys.executable, "-m", "pipeline.client", "e2e", "--data", str(SAMPLE), "--rows", "all", "--batch",
             "--json-out", str(out), "--sink-timeout", "180"],
            cwd=synthesized_tree.root,  # with the endpoints `make e2e` exports
            env=tree_env(synthesized_tree.root, LOCALCLOUD_STATE_DIR=str(state), **(cloud.env() if cloud else {})),
            capture_output=True, text=True, timeout=900,
        )
        yield broken, started, done, json.loads(out.read_text()) if out.exists() else None, state
    finally:
        if cloud is not None:
            cloud.destroy()


def test_the_artifact_reconciles_every_sink_with_the_deployment_code_of_the_tree_broken(proof_run):
    broken, started, done, result, state = proof_run
    assert len(broken) >= 10 and all("working tree used" in p.read_text() for p in broken)
    assert "template" in started.stdout and "local cloud ready" in started.stdout
    assert done.returncode == 0, done.stderr[-4000:]
    assert result["ok"] is True and result["mismatches"] == []
    for sink in SINKS:
        assert result["sinks"][sink] == {**SAMPLE_FIGURES, "conflicts": 0}, sink
    logs = list((state / "logs").rglob("*.log"))
    assert not [p for p in logs if "working tree used" in p.read_text(errors="replace")]


# ----------------------------------------------------------------------- settings follow the template
ARCHIVE_PREFIX = "raw/edited-by-the-test/"


@pytest.fixture(scope="module")
def edited(synthesized_tree, cloud_factory, tmp_path_factory):
    assembly = shutil.copytree(synthesized_tree.assembly, tmp_path_factory.mktemp("edited") / "cdk.out",
                               symlinks=True)

    def edit(r):
        projector = of_type(r, "AWS::Lambda::Function", FunctionName="sales-projector")
        mapping = next(lid for lid, x in r.items() if x["Type"] == "AWS::Lambda::EventSourceMapping"
                       and x["Properties"]["FunctionName"] == {"Ref": projector})
        r[mapping]["Properties"]["BatchSize"] = 7
        r[of_type(r, "AWS::ApiGateway::UsagePlan")]["Properties"]["Throttle"] = {"RateLimit": 1, "BurstLimit": 2}
        archiver = of_type(r, "AWS::Lambda::Function", FunctionName="sales-archiver")
        r[archiver]["Properties"]["Environment"]["Variables"]["ARCHIVE_PREFIX"] = ARCHIVE_PREFIX
        delivery = r[of_type(r, "AWS::KinesisFirehose::DeliveryStream")]["Properties"]
        delivery["RedshiftDestinationConfiguration"]["S3Configuration"]["BufferingHints"]["IntervalInSeconds"] = 1
        delivery["RedshiftDestinationConfiguration"]["RetryOptions"]["DurationInSeconds"] = 0
        r[of_type(r, "AWS::RedshiftServerless::Workgroup")]["Properties"]["PubliclyAccessible"] = False
        job = r[of_type(r, "AWS::Glue::Job")]["Properties"]
        del job["DefaultArguments"]["--TABLE"]
        generate = r[of_type(r, "AWS::SecretsManager::Secret", Name="ecommerce/warehouse/firehose")]["Properties"]
        generate["GenerateSecretString"].update(PasswordLength=41, ExcludeCharacters="\"'\\/@ `abcdefABCDEF")

    edit_template(assembly, edit)
    return cloud_factory(resources=spec_for(assembly))


def test_the_usage_plan_throttle_is_the_templates(edited):
    headers = {"x-api-key": edited.env()["API_KEY"]}
    statuses = [httpx.get(f"{edited.api_url}/invoices/536365", headers=headers, timeout=10).status_code
                for _ in range(6)]
    assert 429 in statuses and sum(s != 429 for s in statuses) <= 3, statuses  # burst 2, 1 request/s
    plan = edited.client("apigateway").get_usage_plans()["items"][0]
    assert plan["throttle"] == {"burstLimit": 2, "rateLimit": 1.0}


@pytest.fixture(scope="module")
def replayed(edited):
    """30 sale events through the API in one request (after the throttle test's burst refilled)."""
    time.sleep(3)
    events = [e.wire() for e in read_events(SourceFile.open(SAMPLE), limit=30)]
    response = httpx.post(f"{edited.api_url}/events", json={"events": events}, timeout=30,
                          headers={"x-api-key": edited.env()["API_KEY"]})
    assert response.status_code == 200, response.text
    return events


def wait_for(predicate, timeout: float = 60.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def test_the_mapping_batches_as_the_template_says(edited, replayed):
    def invocations():
        status = httpx.get(f"{edited.runtime_url}/functions", timeout=10).json()["sales-projector"]
        return status["invocations"] if status["invocations"] >= 5 else None

    # 30 records in one PutRecords: batches of at most 7 need >= 5 invocations (BatchSize 1000: 2).
    assert wait_for(invocations, what="5 projector invocations") >= 5
    mappings = httpx.get(f"{edited.runtime_url}/mappings", timeout=10).json()
    sizes = {m["function"]: m["batch_size"] for m in mappings["mappings"]}
    assert sizes == {"sales-projector": 7, "sales-archiver": 2000}


def test_a_functions_environment_is_the_templates(edited, replayed):
    s3 = edited.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("ecommerce-raw-archive"))
    keys = wait_for(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=ARCHIVE_PREFIX).get("Contents"),
                    what=f"archive objects under {ARCHIVE_PREFIX}")
    assert keys and not s3.list_objects_v2(Bucket=bucket, Prefix="raw/sales_events/").get("Contents")


def test_firehose_buffers_retries_and_fails_over_as_the_template_says(edited, replayed):
    def skipped():
        status = httpx.get(f"{edited.runtime_url}/firehose", timeout=10).json()["deliveries"][0]
        return status if status["skipped_loads"] else None

    status = wait_for(skipped, what="a skipped Firehose load (retry duration 0)")
    assert status["copies"] == 0 and "not publicly accessible" in status["last_error"]
    s3 = edited.client("s3")
    manifests = s3.list_objects_v2(Bucket=status["bucket"], Prefix="firehose-errors/").get("Contents", [])
    assert manifests, "the failed load's manifest is not under the errors prefix"


def test_a_job_run_without_a_required_argument_fails_as_on_aws(edited):
    from emulation.glue.runner import run_job_and_wait

    run = run_job_and_wait(edited.client("glue"), "sales-batch-load", timeout_s=300)
    assert run["JobRunState"] == "FAILED"
    assert "the following arguments are required: --TABLE" in run["ErrorMessage"]


def test_a_secret_is_generated_as_its_generatesecretstring_says(edited):
    secret = json.loads(edited.client("secretsmanager").get_secret_value(
        SecretId="ecommerce/warehouse/firehose")["SecretString"])
    assert len(secret["password"]) == 41 and not set(secret["password"]) & set("\"'\\/@ `abcdefABCDEF")
    assert secret["username"] == "firehose_loader"
