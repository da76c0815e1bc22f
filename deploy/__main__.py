"""`python -m deploy synth|deploy|destroy|schema|outputs|env` (what `make synth`, `make deploy-aws` and
`make destroy-aws` run).

- synth: offline, no credentials; writes cdk.out/ and fails on any unacknowledged cdk-nag finding.
- deploy: checks credentials, bootstraps the account/region when needed, deploys with the pinned CDK
  CLI (deploy/package.json, installed on demand with npm), applies the warehouse schema, prints the
  API URL and how to fetch the API key.
- destroy: deletes the stack; lists what it leaves behind (tables, buckets, the namespace and its
  secrets) with the command that deletes each.
- schema: re-apply the warehouse SQL; outputs: print the stack outputs; env: shell exports
  (API_URL, API_KEY, AWS_REGION, WAREHOUSE_WORKGROUP/DATABASE/SECRET_ARN) for `make e2e-aws`.
Region: AWS_REGION / AWS_DEFAULT_REGION or `--region`; account: whatever AWS_PROFILE resolves to.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .bundling import REPO_ROOT

DEPLOY_DIR = Path(__file__).resolve().parent
OUTDIR = REPO_ROOT / "cdk.out"
CDK_BIN = DEPLOY_DIR / "node_modules" / ".bin" / "cdk"
BOOTSTRAP_PARAM = "/cdk-bootstrap/hnb659fds/version"


class DeployError(RuntimeError):
    """Something the user can fix: the message says what and how."""


def synth(context: dict, outdir: Path = OUTDIR) -> Path:
    from .app import build_app

    started = time.monotonic()
    app, stack = build_app(context=context, outdir=str(outdir))
    try:
        app.synth()
    except RuntimeError as exc:
        report = outdir / "validation-report.json"
        raise DeployError(f"synthesis failed: {exc}\nsee {report} for cdk-nag findings") from None
    template = outdir / f"{stack.stack_name}.template.json"
    print(
        f"synthesized {stack.stack_name} in {time.monotonic() - started:.1f}s: {template.relative_to(REPO_ROOT)} "
        f"({template.stat().st_size / 1024:.0f} KiB, {len(json.loads(template.read_text())['Resources'])} resources); "
        "cdk-nag AwsSolutions: no unacknowledged findings"
    )
    return template


def aws_session(region: str | None):
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise DeployError(
            "boto3 is missing: run `make install` (installs the [local,deploy] extras)"
        ) from None
    # boto3 reads AWS_DEFAULT_REGION and the profile; the Makefile documents AWS_REGION too.
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise DeployError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS_PROFILE)"
        )
    if os.environ.get("AWS_ENDPOINT_URL"):
        raise DeployError(
            "AWS_ENDPOINT_URL is set (it points boto3 at the local cloud): unset it to deploy to AWS"
        )
    try:
        ident = session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise DeployError(
            "no AWS credentials: set AWS_PROFILE (aws configure / aws sso login) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(
            f"AWS credentials rejected ({exc}): refresh them (e.g. aws sso login --profile $AWS_PROFILE)"
        ) from None
    return session, ident["Account"]


def cdk(*args: str, env_extra: dict | None = None) -> None:
    if not CDK_BIN.exists():
        if not shutil.which("npm"):
            raise DeployError("npm not found: install Node.js 20+ to run the CDK CLI")
        print("installing the pinned CDK CLI (deploy/package.json) ...")
        subprocess.run(
            ["npm", "ci", "--prefix", str(DEPLOY_DIR), "--no-audit", "--no-fund"], check=True
        )
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **(env_extra or {})}
    proc = subprocess.run([str(CDK_BIN), *args], cwd=REPO_ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise DeployError(
            f"cdk {args[0]} failed (exit {proc.returncode}); its output above says why"
        )


def stack_outputs(session, stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    cfn = session.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:  # ValidationError: the stack does not exist
        raise DeployError(
            f"stack {stack_name} not found in {session.region_name}: run `make deploy-aws` ({exc})"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy(args) -> None:
    from pipeline.resources import PIPELINE

    from .schema import apply_schema

    context = _context(args)  # before any AWS call: a typo fails fast and offline
    if os.environ.get("ALARM_EMAIL") and "alarm_email" not in context:
        context["alarm_email"] = os.environ["ALARM_EMAIL"]
    session, account = aws_session(args.region)
    region = session.region_name
    context = {"region": region, **context}
    synth(context)
    _check_quotas(session, context, PIPELINE)
    ssm = session.client("ssm")
    try:
        ssm.get_parameter(Name=BOOTSTRAP_PARAM)
    except ssm.exceptions.ParameterNotFound:
        print(
            f"bootstrapping aws://{account}/{region} for the CDK (once per account and region) ..."
        )
        cdk("bootstrap", f"aws://{account}/{region}")
    env = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "CDK_DEFAULT_ACCOUNT": account,
        "CDK_DEFAULT_REGION": region,
    }
    stack_name = context.get("stack_name", "EcommercePipeline")
    cdk(
        "deploy",
        "--app",
        str(OUTDIR),
        stack_name,
        "--require-approval",
        "never",
        "--outputs-file",
        str(OUTDIR / "outputs.json"),
        env_extra=env,
    )
    outputs = stack_outputs(session, stack_name)
    print("applying the warehouse schema through the Redshift Data API ...")
    count = apply_schema(session, outputs, PIPELINE)
    print(f"schema applied ({count} statements)")
    key_ids = [v for k, v in outputs.items() if k.startswith("ApiKeyId")]
    print(f"\nAPI: {outputs['ApiUrl']}")
    for key_id in key_ids:
        print(
            f"API key: aws apigateway get-api-key --api-key {key_id} --include-value --query value --output text"
        )
    print('replay: eval "$(python -m deploy env)" && make e2e-aws ROWS=1000')


def _check_quotas(session, context: dict, resources) -> None:
    """Refuse, with the numbers and the fix, a deploy the account's quotas cannot hold."""
    from .quotas import reserved_concurrency_problem
    from .settings import SettingsError, _flag

    try:
        reserve = _flag(context.get("reserve_concurrency"), "reserve_concurrency")
    except SettingsError as exc:
        raise DeployError(str(exc)) from None
    if reserve:
        problem = reserved_concurrency_problem(session.client("lambda"), resources)
        if problem:
            raise DeployError(problem)


def destroy(args) -> None:
    from .leftovers import leftovers

    context = _context(args)
    session, account = aws_session(args.region)
    context = {"region": session.region_name, **context}
    stack_name = context.get("stack_name", "EcommercePipeline")
    stack_outputs(session, stack_name)  # fails clearly when there is no stack
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in session.client("cloudformation").describe_stack_resources(StackName=stack_name)[
            "StackResources"
        ]
    }
    template = json.loads(synth(context).read_text())
    cdk(
        "destroy",
        "--app",
        str(OUTDIR),
        stack_name,
        "--force",
        env_extra={"AWS_REGION": session.region_name, "AWS_DEFAULT_REGION": session.region_name},
    )
    kept = leftovers(template, account, session.region_name, physical)
    print(
        "left behind (data is never deleted by destroy; the names are fixed, so the next deploy "
        "here fails until they are gone; delete by hand if you are sure):"
    )
    for item in kept:
        print(f"  {item.kind} {item.name}\n    {item.delete_command}")


def schema(args) -> None:
    from pipeline.resources import PIPELINE

    from .schema import apply_schema

    context = _context(args)
    session, _ = aws_session(args.region)
    outputs = stack_outputs(session, context.get("stack_name", "EcommercePipeline"))
    print(f"schema applied ({apply_schema(session, outputs, PIPELINE)} statements)")


def outputs_cmd(args) -> None:
    context = _context(args)
    session, _ = aws_session(args.region)
    print(
        json.dumps(stack_outputs(session, context.get("stack_name", "EcommercePipeline")), indent=2)
    )


def env_cmd(args) -> None:
    """Shell exports for the replay client against the deployed stack: eval "$(python -m deploy env)"."""
    import shlex

    context = _context(args)
    session, _ = aws_session(args.region)
    outputs = stack_outputs(session, context.get("stack_name", "EcommercePipeline"))
    key_id = next(v for k, v in sorted(outputs.items()) if k.startswith("ApiKeyId"))
    key = session.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    from pipeline.resources import PIPELINE

    from .stack import output_key

    values = {
        "API_URL": outputs["ApiUrl"].rstrip("/"),
        "API_KEY": key,
        "AWS_REGION": outputs["Region"],
        "AWS_DEFAULT_REGION": outputs["Region"],
        # The e2e reads the warehouse through the Redshift Data API with these (no DSN needed).
        "WAREHOUSE_WORKGROUP": outputs["WarehouseWorkgroup"],
        "WAREHOUSE_DATABASE": outputs["WarehouseDatabase"],
        "WAREHOUSE_SECRET_ARN": outputs[
            output_key("SecretArn", PIPELINE.required_warehouse.admin_secret)
        ],
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    print("unset AWS_ENDPOINT_URL")


def _context(args) -> dict:
    ctx = {}
    for item in args.context or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise DeployError(f"-c {item!r}: context must look like key=value")
        ctx[key] = value
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command", choices=["synth", "deploy", "destroy", "schema", "outputs", "env"]
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / your profile's region)")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        metavar="KEY=VALUE",
        help="CDK context: region, azs, endpoint_azs, alarm_email, stack_name, "
        "reserve_concurrency, batch_schedule (docs/deploy.md)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "synth":
            ctx = _context(args)
            if args.region:
                ctx["region"] = args.region
            synth(ctx)
        else:
            {
                "deploy": deploy,
                "destroy": destroy,
                "schema": schema,
                "outputs": outputs_cmd,
                "env": env_cmd,
            }[args.command](args)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
