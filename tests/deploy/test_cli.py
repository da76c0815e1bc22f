"""`python -m deploy`: clear errors for what a user can get wrong, before anything reaches AWS;
and the schema step's statement handling (the Data API calls themselves need a real account)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from deploy.bundling import REPO_ROOT
from deploy.schema import _redact, split_statements, user_statements
from pipeline.grants import dedicated_users
from deploy.settings import DeploySettings, SettingsError
from pipeline.resources import PIPELINE


def run_cli(*args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_without_credentials_says_how_to_fix_it():
    proc = run_cli("deploy", AWS_REGION="us-east-1")
    assert proc.returncode == 2
    assert "no AWS credentials" in proc.stderr and "AWS_PROFILE" in proc.stderr


def test_deploy_without_region_says_how_to_fix_it():
    proc = run_cli("destroy")
    assert proc.returncode == 2 and "no AWS region" in proc.stderr


def test_deploy_refuses_to_run_against_the_local_cloud():
    proc = run_cli("deploy", AWS_REGION="us-east-1", AWS_ENDPOINT_URL="http://127.0.0.1:4566")
    assert proc.returncode == 2 and "AWS_ENDPOINT_URL" in proc.stderr


def test_malformed_context_is_rejected():
    proc = run_cli("deploy", "-c", "azs", AWS_REGION="us-east-1")
    assert proc.returncode == 2 and "-c 'azs': context must look like key=value" in proc.stderr


@pytest.mark.parametrize(
    "context, problem",
    [
        ({"azs": "us-east-1a,us-east-1b"}, "needs subnets in 3 zones"),
        ({"azs": "us-east-1a,us-east-1b,eu-west-1c"}, "is not a zone of region"),
        ({"azs": "us-east-1a,us-east-1b,zone-c"}, "is not a zone of region"),
        ({"endpoint_azs": "4"}, "endpoint_azs=4"),
        ({"batch_schedule": "rate(1 hour)"}, "is not a Glue schedule"),
        ({"region": "mx-central-1", "azs": "mx-central-1a,mx-central-1b,mx-central-1c"},
         "has no Firehose address block"),
    ],
)
def test_settings_reject_zones_that_cannot_work(context, problem):
    with pytest.raises(SettingsError, match=problem):
        DeploySettings.from_context(context.get, PIPELINE, env={"AWS_REGION": "us-east-1"})


def test_settings_default_to_three_zones_of_the_region():
    s = DeploySettings.from_context({}.get, PIPELINE, env={"AWS_REGION": "eu-west-1"})
    assert s.azs == ("eu-west-1a", "eu-west-1b", "eu-west-1c") and s.region == "eu-west-1"


def test_schema_file_splits_into_statements():
    sql = (REPO_ROOT / PIPELINE.warehouse.schema_files[0]).read_text()
    statements = split_statements(sql)
    assert len(statements) >= 3
    assert all(not s.endswith(";") and not s.startswith("--") for s in statements)
    assert any(
        s.upper().startswith("CREATE TABLE IF NOT EXISTS STREAM.SALES_EVENTS") for s in statements
    )


def test_loader_user_gets_only_what_copy_needs_and_its_password_is_never_logged():
    fh = PIPELINE.firehoses[0]
    users = dict(dedicated_users(PIPELINE))
    stmts = user_statements("firehose_loader", "Pa'ss1word", users[fh.loader_secret])
    assert stmts[0] == "CREATE USER firehose_loader PASSWORD 'Pa''ss1word'"
    assert stmts[1:] == [
        f"GRANT USAGE ON SCHEMA {fh.table.split('.')[0]} TO firehose_loader",
        f"GRANT INSERT ON {fh.table} TO firehose_loader",
    ]
    assert "Pa" not in _redact(stmts[0])


def test_glue_user_gets_only_its_analytics_and_staging_tables():
    job = PIPELINE.glue_jobs[0]
    grants = dict(dedicated_users(PIPELINE))[job.warehouse_secret]
    target, quarantine = job.default_arguments["--TARGET_TABLE"], job.default_arguments["--QUARANTINE_TABLE"]
    named = {g.split(" ON ")[1].split(" TO ")[0] for g in grants if g.startswith("GRANT")}
    assert named == {"SCHEMA analytics", target, quarantine, f"{target}_staging", f"{quarantine}_staging"}
    assert not any("stream" in g or "SUPERUSER" in g.upper() or " ALL " in g for g in grants)
    assert f"GRANT SELECT, INSERT, UPDATE ON {target} TO glue_loader" in grants


def _lambda_stub(limit: int, unreserved: int, held: dict[str, int]):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("get_account_settings", {"AccountLimit": {
        "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}})
    for f in PIPELINE.functions:
        if f.reserved_concurrency:
            if f.name in held:
                stub.add_response("get_function_concurrency",
                                  {"ReservedConcurrentExecutions": held[f.name]},
                                  {"FunctionName": f.name})
            else:
                stub.add_client_error("get_function_concurrency", "ResourceNotFoundException",
                                      expected_params={"FunctionName": f.name})
    stub.activate()
    return client, stub


def test_reserved_concurrency_is_refused_on_a_default_quota_account_with_the_numbers():
    from deploy.quotas import reserved_concurrency_problem

    need = sum(f.reserved_concurrency or 0 for f in PIPELINE.functions)
    client, stub = _lambda_stub(limit=10, unreserved=10, held={})
    problem = reserved_concurrency_problem(client, PIPELINE)
    stub.assert_no_pending_responses()
    assert problem and f"reserves {need} Lambda executions" in problem
    assert "limit is 10 with 10 unreserved" in problem and "requires 100" in problem
    assert "without -c reserve_concurrency=true" in problem and f"at least {100 + need}" in problem


def test_reserved_concurrency_fits_a_raised_quota_and_counts_the_stacks_own_reservations():
    from deploy.quotas import reserved_concurrency_problem

    need = sum(f.reserved_concurrency or 0 for f in PIPELINE.functions)
    # Exactly 100 unreserved now: the deploy fits only because its own 8 return to the pool.
    client, _ = _lambda_stub(limit=100 + need, unreserved=100, held={
        f.name: f.reserved_concurrency for f in PIPELINE.functions if f.reserved_concurrency})
    assert reserved_concurrency_problem(client, PIPELINE) is None
    client, _ = _lambda_stub(limit=100 + need - 1, unreserved=100 + need - 1, held={})
    assert f"to at least {100 + need}" in reserved_concurrency_problem(client, PIPELINE)
