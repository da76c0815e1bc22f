"""Deliverability: what the synthesized template and its assets must hold for data to reach every
sink on AWS. Each test names the issue-11 finding it would have caught (docs/deploy.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bundling import REPO_ROOT
from pipeline.resources import PIPELINE

from .template_assets import asset_file, glue_job

# What the Glue 5.0 runtime provides besides the standard library and --extra-py-files: Spark
# (pyspark, py4j), the awsglue library (glue_local's stand-in here) and boto3.
GLUE_RUNTIME = ("pyspark", "py4j", "boto3", "botocore", "s3transfer", "dateutil", "jmespath",
                "urllib3", "six.py")


@pytest.fixture(scope="module")
def glue_runtime(tmp_path_factory) -> Path:
    runtime = tmp_path_factory.mktemp("glue-runtime")
    site = Path(__import__("boto3").__file__).parent.parent
    for name in GLUE_RUNTIME:
        (runtime / name).symlink_to(site / name)
    return runtime


@pytest.mark.parametrize("job", PIPELINE.glue_jobs, ids=lambda j: j.name)
def test_1_glue_script_imports_from_its_bundle_alone(synthesized, glue_runtime, job):
    """Item 1: the --extra-py-files zip lacked pipeline/fields.py (ModuleNotFoundError on AWS).
    The script asset is imported with only the zip (not unpacked), glue_local's awsglue and the
    Glue runtime's libraries on the path; every pipeline module must come from the zip."""
    props = glue_job(synthesized.template, job.name)
    script = asset_file(synthesized.outdir, props["Command"]["ScriptLocation"])
    bundle = asset_file(synthesized.outdir, props["DefaultArguments"]["--extra-py-files"])
    assert bundle.suffix == ".zip"
    probe = (
        "import sys, importlib.util\n"
        f"sys.path[:0] = [{str(bundle)!r}, {str(REPO_ROOT / 'glue_local')!r}, {str(glue_runtime)!r}]\n"
        f"spec = importlib.util.spec_from_file_location('glue_script', {str(script)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert callable(module.main)\n"
        "loaded = {n: getattr(m, '__file__', '') or '' for n, m in sys.modules.items()\n"
        "          if n == 'pipeline' or n.startswith('pipeline.')}\n"
        f"wrong = {{n: f for n, f in loaded.items() if not f.startswith({str(bundle)!r})}}\n"
        "assert loaded and not wrong, wrong\n"
        "print(sorted(loaded))\n"
    )
    # -I: no user site, no PYTHON* variables; -S: no site-packages. The working tree is not on
    # the path (cwd is a scratch folder), so nothing can come from it.
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True,
                          text=True, timeout=120, cwd=glue_runtime, check=False)
    assert proc.returncode == 0, proc.stderr[-2500:]
    assert "pipeline.glue.transforms" in proc.stdout


# IAM action of each API operation the job's own catalog code calls (the rest is service:Operation).
_IAM_ACTION = {("s3", "ListObjectsV2"): "s3:ListBucket"}


def _partition_registration_calls() -> set[tuple[str, str]]:
    """(service, operation) of every AWS call register_new_partitions makes, recorded by running it
    on moto in-process against a table with one new partition."""
    import boto3
    from moto import mock_aws

    from pipeline.glue.catalog_partitions import register_new_partitions

    calls: set[tuple[str, str]] = set()
    record = lambda model, **_: calls.add((model.service_model.endpoint_prefix, model.name))  # noqa: E731
    table = PIPELINE.glue_tables[0]
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        s3.put_object(Bucket="archive", Key=f"{table.prefix}event_date=2011-12-09/a.gz", Body=b"")
        glue.create_database(DatabaseInput={"Name": table.database})
        glue.create_table(DatabaseName=table.database, TableInput={
            "Name": table.name,
            "PartitionKeys": [{"Name": c.name, "Type": c.type} for c in table.partition_keys],
            "StorageDescriptor": {"Location": f"s3://archive/{table.prefix}", "Columns": []},
        })
        for client in (glue, s3):
            client.meta.events.register("before-call.*.*", record)
        assert register_new_partitions(glue, s3, table.database, table.name) == [["2011-12-09"]]
    return calls


@pytest.mark.parametrize("job", PIPELINE.glue_jobs, ids=lambda j: j.name)
def test_3_glue_job_role_may_register_archive_partitions(synthesized, job):
    """Item 3: only the replay client registered partitions, so on AWS the job saw none. The job
    registers them itself: its role must allow every call that code makes, on this table."""
    from .template_eval import ACCOUNT, REGION, allows, role_of

    role = role_of(synthesized.template, "AWS::Glue::Job", "Name", job.name)
    calls = _partition_registration_calls()
    assert ("glue", "BatchCreatePartition") in calls and ("s3", "ListObjectsV2") in calls
    table = PIPELINE.glue_tables[0]
    bucket = f"{PIPELINE.bucket(table.bucket).physical_name(ACCOUNT, REGION)}"
    catalog = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    arns = {
        "glue": [f"{catalog}:catalog", f"{catalog}:database/{table.database}",
                 f"{catalog}:table/{table.database}/{table.name}"],
        "s3": [f"arn:aws:s3:::{bucket}"],
    }
    for service, operation in sorted(calls):
        action = _IAM_ACTION.get((service, operation), f"{service}:{operation}")
        for arn in arns[service]:
            assert allows(synthesized.template, role, action, arn), f"{action} on {arn}"


@pytest.mark.parametrize("job", PIPELINE.glue_jobs, ids=lambda j: j.name)
def test_3_a_schedule_starts_the_glue_job(synthesized, job):
    """Item 3: nothing started the job on AWS. A scheduled trigger, active from creation, does."""
    triggers = [t["Properties"] for t in synthesized.resources("AWS::Glue::Trigger").values()
                if {"JobName": job.name} in t["Properties"]["Actions"]]
    assert len(triggers) == 1, triggers
    trigger = triggers[0]
    assert trigger["Type"] == "SCHEDULED" and trigger["StartOnCreation"] is True
    assert re.fullmatch(r"cron\((\S+ ){5}\S+\)", trigger["Schedule"]), trigger["Schedule"]


def _route_tables_of(template: dict, subnet: str) -> list[str]:
    return [a["Properties"]["RouteTableId"]["Ref"] for a in template["Resources"].values()
            if a["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
            and a["Properties"]["SubnetId"] == {"Ref": subnet}]


def _internet_routed(template: dict, subnet: str) -> bool:
    """The subnet's route table sends 0.0.0.0/0 to an internet gateway attached to its VPC."""
    res = template["Resources"]
    vpc = res[subnet]["Properties"]["VpcId"]
    gateways = {a["Properties"]["InternetGatewayId"]["Ref"] for a in res.values()
                if a["Type"] == "AWS::EC2::VPCGatewayAttachment" and a["Properties"]["VpcId"] == vpc
                and "InternetGatewayId" in a["Properties"]}
    for table in _route_tables_of(template, subnet):
        for route in res.values():
            p = route.get("Properties", {})
            if (route["Type"] == "AWS::EC2::Route" and p.get("RouteTableId") == {"Ref": table}
                    and p.get("DestinationCidrBlock") == "0.0.0.0/0"
                    and p.get("GatewayId", {}).get("Ref") in gateways):
                return True
    return False


def _ingress_rules(template: dict, group: str) -> list[dict]:
    """Every ingress rule of a security group: inline and AWS::EC2::SecurityGroupIngress."""
    res = template["Resources"]
    rules = list(res[group]["Properties"].get("SecurityGroupIngress", []))
    rules += [r["Properties"] for r in res.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"
              and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}]
    return rules


def _workgroup(template: dict) -> dict:
    (wg,) = [r["Properties"] for r in template["Resources"].values()
             if r["Type"] == "AWS::RedshiftServerless::Workgroup"]
    return wg


def test_4_firehose_can_reach_the_workgroup_and_nothing_else_can(synthesized):
    """Item 4: the workgroup was private, so Firehose (which connects from its regional public
    block) could never COPY. Firehose's documented path: a publicly accessible workgroup in
    subnets routed to an internet gateway, admitting the region's Firehose CIDR on its port only,
    TLS required."""
    from deploy.firehose_cidrs import firehose_cidr

    template = synthesized.template
    wg = _workgroup(template)
    assert wg["PubliclyAccessible"] is True
    subnets = [s["Ref"] for s in wg["SubnetIds"]]
    assert len(subnets) >= 3 and all(_internet_routed(template, s) for s in subnets), subnets
    port = wg.get("Port", 5439)
    (group,) = [g["Fn::GetAtt"][0] for g in wg["SecurityGroupIds"]]
    rules = _ingress_rules(template, group)
    cidrs = {(r.get("CidrIp"), r["FromPort"], r["ToPort"]) for r in rules if "CidrIp" in r}
    assert cidrs == {(firehose_cidr(synthesized.stack.region), port, port)}, cidrs
    assert not [r for r in rules if "CidrIpv6" in r or "SourcePrefixListId" in r]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in wg["ConfigParameters"]}
    assert params["require_ssl"] == "true"


def test_4_functions_and_glue_stay_in_isolated_subnets(synthesized):
    """Only the workgroup sits in internet-routed subnets; code runs where nothing reaches it."""
    template = synthesized.template
    placed = [fn["Properties"]["VpcConfig"]["SubnetIds"]
              for fn in synthesized.resources("AWS::Lambda::Function").values()
              if fn["Properties"].get("FunctionName") in {f.name for f in PIPELINE.functions}]
    placed += [[c["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]["SubnetId"]]
               for c in synthesized.resources("AWS::Glue::Connection").values()]
    assert placed
    for subnets in placed:
        for subnet in subnets:
            assert not _internet_routed(template, subnet["Ref"]), subnet
    for name, subnet in synthesized.resources("AWS::EC2::Subnet").items():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False, name


def test_4_glue_reaches_the_workgroup_port(synthesized):
    """The batch path keeps its private route: the workgroup admits the Glue job's group."""
    template = synthesized.template
    wg = _workgroup(template)
    (group,) = [g["Fn::GetAtt"][0] for g in wg["SecurityGroupIds"]]
    (conn,) = synthesized.resources("AWS::Glue::Connection").values()
    glue_groups = conn["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"][
        "SecurityGroupIdList"]
    sources = {r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in _ingress_rules(template, group)
               if "SourceSecurityGroupId" in r and r["FromPort"] <= wg.get("Port", 5439) <= r["ToPort"]}
    assert sources == {g["Fn::GetAtt"][0] for g in glue_groups}


def test_4_firehose_cidr_table_agrees_with_the_cdk_region_facts():
    """The table is AWS's (Firehose developer guide); aws-cdk-lib ships its own copy of it."""
    from aws_cdk.region_info import RegionInfo

    from deploy.firehose_cidrs import FIREHOSE_CIDRS

    cdk = {r.name: r.firehose_cidr_block for r in RegionInfo.regions if r.firehose_cidr_block}
    assert FIREHOSE_CIDRS == cdk


ALARM_EMAIL = "ops@example.com"


@pytest.fixture(scope="module")
def reserved(tmp_path_factory):
    """The template synthesized with every option on: `-c reserve_concurrency=true -c
    alarm_email=...` (what `make deploy-aws ALARM_EMAIL=...` passes)."""
    import json

    from deploy.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.reserved")
    context = {"reserve_concurrency": "true", "alarm_email": ALARM_EMAIL}
    app, stack = build_app(context=context, outdir=str(outdir))
    app.synth()
    return json.loads((outdir / f"{stack.stack_name}.template.json").read_text())


def _reservations(template: dict) -> dict:
    return {r["Properties"]["FunctionName"]: r["Properties"].get("ReservedConcurrentExecutions")
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"].get("FunctionName") in {f.name for f in PIPELINE.functions}}


def test_5_reserved_concurrency_is_opt_in(synthesized, reserved):
    """Item 5: 8 reserved executions fail to create on an account with the default quota of 10.
    By default nothing is reserved; `-c reserve_concurrency=true` reserves what is described."""
    assert set(_reservations(synthesized.template).values()) == {None}
    assert _reservations(reserved) == {f.name: f.reserved_concurrency for f in PIPELINE.functions}


# Data the stack keeps when it is deleted (docs/deploy.md, "What destroy leaves behind").
RETAINED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::RedshiftServerless::Namespace",
    "AWS::SecretsManager::Secret",  # as long as the namespace they unlock (item 7)
}


def test_5_a_failed_first_create_deletes_what_it_created(synthesized):
    """Item 5: Retain kept the fixed-name tables, buckets and namespace of a failed first create, so
    every retry failed with AlreadyExists. RetainExceptOnCreate deletes them when the create that
    made them rolls back, and keeps them on every later update or delete."""
    policies = {}
    for name, r in synthesized.template["Resources"].items():
        policies.setdefault(r.get("DeletionPolicy", "Delete"), set()).add(r["Type"])
        if r["Type"] in RETAINED_TYPES:
            assert r.get("DeletionPolicy") == "RetainExceptOnCreate", name
            assert r.get("UpdateReplacePolicy") == "Retain", name
    assert "Retain" not in policies, policies["Retain"]
    assert policies["RetainExceptOnCreate"] == RETAINED_TYPES


def test_7_the_stream_is_deleted_with_the_stack(synthesized):
    """Item 7: the Kinesis stream was retained (docs said deleted) and billed after destroy."""
    for name, s in synthesized.resources("AWS::Kinesis::Stream").items():
        assert s.get("DeletionPolicy", "Delete") == "Delete", name


def test_7_destroy_lists_everything_it_leaves_behind(synthesized):
    """`python -m deploy destroy` names each retained resource and the command that deletes it."""
    from deploy.leftovers import leftovers

    from .template_eval import ACCOUNT, REGION

    listed = leftovers(synthesized.template, ACCOUNT, REGION)
    retained = {n for n, r in synthesized.template["Resources"].items()
                if r.get("DeletionPolicy") == "RetainExceptOnCreate"}
    assert {item.logical_id for item in listed} == retained
    for item in listed:
        assert item.name in item.delete_command and item.delete_command.startswith("aws "), item
    names = {i.name for i in listed}
    assert {b.physical_name(ACCOUNT, REGION) for b in PIPELINE.buckets} <= names
    assert {t.name for t in PIPELINE.tables} | {s.name for s in PIPELINE.secrets} <= names
    secrets = [i for i in listed if i.kind == "AWS::SecretsManager::Secret"]
    assert all("--force-delete-without-recovery" in i.delete_command for i in secrets)


def test_6_alarms_reach_a_topic_cloudwatch_may_encrypt_for(synthesized):
    """Item 6: the alarm topic used alias/aws/sns, whose key policy CloudWatch cannot use, so no
    alarm notification was ever delivered. A customer-managed key admits cloudwatch.amazonaws.com."""
    res = synthesized.template["Resources"]
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    key_ref = res[topic_id]["Properties"]["KmsMasterKeyId"]
    assert "Fn::GetAtt" in key_ref, f"topic key {key_ref!r} is not a key of this stack"
    key = res[key_ref["Fn::GetAtt"][0]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    admits = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
              if s["Effect"] == "Allow"
              and s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    actions = {a for s in admits for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions, admits
    for name, alarm in synthesized.resources("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}], name


def test_6_make_deploy_aws_subscribes_alarm_email(reserved):
    """`make deploy-aws ALARM_EMAIL=...` passes it as context, which subscribes the address."""
    proc = subprocess.run(["make", "-n", "deploy-aws", f"ALARM_EMAIL={ALARM_EMAIL}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert f"-m deploy deploy -c alarm_email={ALARM_EMAIL}" in proc.stdout, proc.stdout + proc.stderr
    subs = [r["Properties"] for r in reserved["Resources"].values()
            if r["Type"] == "AWS::SNS::Subscription"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", ALARM_EMAIL)]


def _sdk_call(template: dict, resource: dict, phase: str) -> dict:
    """A CDK AwsCustomResource's Create/Update/Delete call, evaluated to its JSON document."""
    import json

    from .template_eval import Evaluator

    value = resource["Properties"].get(phase)
    return json.loads(Evaluator(template)(value)) if value is not None else {}


def test_8_a_changed_usage_limit_is_applied(synthesized):
    """Item 8: the usage-limit custom resource had no update call, so changing
    max_rpu_hours_per_day was silently ignored. On update it now calls UpdateUsageLimit on the
    limit it created, and the provider may."""
    from .template_eval import allows

    template = synthesized.template
    (limit,) = synthesized.resources("Custom::AWS").values()
    create, update = _sdk_call(template, limit, "Create"), _sdk_call(template, limit, "Update")
    amount = PIPELINE.warehouse.max_rpu_hours_per_day
    assert create["action"] == "createUsageLimit" and create["parameters"]["amount"] == amount
    assert update["action"] == "updateUsageLimit", update
    assert update["parameters"] == {"usageLimitId": "PHYSICAL:RESOURCEID:", "amount": amount,
                                    "breachAction": create["parameters"]["breachAction"]}
    # The same physical id before and after: CloudFormation must not take it for a replacement.
    assert update["physicalResourceId"] == create["physicalResourceId"]
    provider_role = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                     and "UsageLimit" in str(r["Properties"]["PolicyName"])]
    assert provider_role, "no policy for the usage-limit custom resource"
    role = provider_role[0]["Properties"]["Roles"][0]["Ref"]
    arn = "arn:aws:redshift-serverless:us-east-1:123456789012:usagelimit/0f8e-limit"
    assert allows(template, role, "redshift-serverless:UpdateUsageLimit", arn)


def _eni_placements(synthesized) -> dict[str, tuple[list, list]]:
    """role logical id -> (subnet refs, security group refs) its ENIs are created with."""
    out = {}
    for fn in synthesized.resources("AWS::Lambda::Function").values():
        p = fn["Properties"]
        if p.get("FunctionName") in {f.name for f in PIPELINE.functions}:
            out[p["Role"]["Fn::GetAtt"][0]] = (p["VpcConfig"]["SubnetIds"],
                                               p["VpcConfig"]["SecurityGroupIds"])
    conns = {c["Properties"]["ConnectionInput"]["Name"]:
             c["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]
             for c in synthesized.resources("AWS::Glue::Connection").values()}
    for job in synthesized.resources("AWS::Glue::Job").values():
        p = job["Properties"]
        (conn,) = [conns[c] for c in p["Connections"]["Connections"]]
        out[p["Role"]["Fn::GetAtt"][0]] = ([conn["SubnetId"]], conn["SecurityGroupIdList"])
    return out


def test_12_eni_actions_are_scoped_to_the_subnets_and_groups_used(synthesized):
    """Item 12: the acknowledgments said EC2 has no resource-level permission for ENI actions;
    CreateNetworkInterface, DeleteNetworkInterface and (Un)AssignPrivateIpAddresses have one. Only
    the Describe* calls (which AWS requires on "*") may name every resource."""
    from .template_eval import ACCOUNT, REGION, Evaluator, allows, role_statements

    template = synthesized.template
    ev = Evaluator(template)
    placements = _eni_placements(synthesized)
    assert len(placements) == len(PIPELINE.functions) + len(PIPELINE.glue_jobs)
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    for role, (subnets, groups) in placements.items():
        for s in role_statements(template, role):
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if "*" in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]):
                writes = [a for a in actions if a.startswith("ec2:") and not a.startswith("ec2:Describe")]
                assert writes == [], f"{role}: {writes} on '*'"
        for arn in [f"{ec2}:network-interface/eni-0abc"] + \
                   [f"{ec2}:subnet/{ev(s)}" for s in subnets] + \
                   [f"{ec2}:security-group/{ev(g)}" for g in groups]:
            assert allows(template, role, "ec2:CreateNetworkInterface", arn), (role, arn)
        assert not allows(template, role, "ec2:CreateNetworkInterface", f"{ec2}:subnet/subnet-other")
        assert allows(template, role, "ec2:DeleteNetworkInterface", f"{ec2}:network-interface/eni-0abc")
        assert not allows(template, role, "ec2:DeleteNetworkInterface",
                          "arn:aws:ec2:eu-west-1:999999999999:network-interface/eni-0abc")
        assert allows(template, role, "ec2:DescribeNetworkInterfaces", "*"), role


@pytest.mark.parametrize("job", PIPELINE.glue_jobs, ids=lambda j: j.name)
def test_10_glue_loads_the_warehouse_as_its_own_user(synthesized, job):
    """Item 10: the Glue connection logged in with the admin secret (a superuser). It uses the
    job's dedicated user now, and the job's role may read that secret and not the admin's."""
    from .template_eval import Evaluator, allows, role_of

    template = synthesized.template
    ev = Evaluator(template)
    secrets = {ev(s["Properties"]["Name"]): name
               for name, s in synthesized.resources("AWS::SecretsManager::Secret").items()}
    conn = job.default_arguments["--REDSHIFT_CONNECTION"]
    (props,) = [c["Properties"]["ConnectionInput"]["ConnectionProperties"]
                for c in synthesized.resources("AWS::Glue::Connection").values()
                if c["Properties"]["ConnectionInput"]["Name"] == conn]
    user_secret = ev(props["SECRET_ID"])
    assert user_secret == job.warehouse_secret != PIPELINE.warehouse.admin_secret
    assert next(s for s in PIPELINE.secrets if s.name == user_secret).username not in (
        next(s for s in PIPELINE.secrets if s.name == PIPELINE.warehouse.admin_secret).username,)
    role = role_of(template, "AWS::Glue::Job", "Name", job.name)
    arn = lambda name: ev({"Ref": secrets[name]})  # noqa: E731
    assert allows(template, role, "secretsmanager:GetSecretValue", arn(user_secret))
    assert not allows(template, role, "secretsmanager:GetSecretValue",
                      arn(PIPELINE.warehouse.admin_secret))
