"""What template mode does with each CloudFormation resource type: runs it, emulates it partly (the
gap), or does not emulate it (the reason). `up --from` lists a template's resources by this table,
so nothing is ignored silently; docs/cloudformation.md's table is generated from it
(`python -m emulation.cloudformation.resource_types --write`; a test compares).

A type missing here is reported as not emulated ("unknown to template mode").
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

RUNS = "runs"
PARTLY = "emulated partly"
NOT_EMULATED = "not emulated"

_NO_NETWORK = "no network here (every part talks over 127.0.0.1); read to check that Firehose can reach the warehouse"
_NO_IAM = "moto does not enforce IAM; least privilege is checked on the template (tests/deploy/test_iam.py)"
_NO_POLICY = "resource policies are not enforced (moto)"
_NO_CLOUDWATCH = "no CloudWatch here: no metrics, alarms or notifications"


@dataclass(frozen=True)
class Support:
    status: str
    note: str = ""
    """The gap (emulated partly) or the reason (not emulated)."""


RESOURCE_TYPES: dict[str, Support] = {
    # data stores (moto, patched)
    "AWS::Kinesis::Stream": Support(
        PARTLY, "shard count and retention apply; encryption and on-demand mode do not"
    ),
    "AWS::DynamoDB::Table": Support(
        PARTLY,
        "keys and billing mode apply (string keys only); encryption, point-in-time recovery, TTL and streams do not",
    ),
    "AWS::S3::Bucket": Support(
        PARTLY,
        "created under its name; encryption, versioning, lifecycle expiry, access logging and public-access blocks do not apply",
    ),
    "AWS::SQS::Queue": Support(
        PARTLY, "created under its name; encryption and retention do not apply"
    ),
    "AWS::SecretsManager::Secret": Support(
        RUNS,
        "the value is generated as GenerateSecretString says; host and port name the local warehouse",
    ),
    # code
    "AWS::Lambda::Function": Support(
        PARTLY,
        "Python runtimes run from their code asset and layers in isolated workers; VPC, tracing, architecture and memory size do not apply; other runtimes are not run",
    ),
    "AWS::Lambda::LayerVersion": Support(
        RUNS, "its asset folder is on the import path of the functions that name it"
    ),
    "AWS::Lambda::EventSourceMapping": Support(
        PARTLY,
        "Kinesis sources with every batching, retry, bisect, partial-batch and on-failure (SQS) setting; ParallelizationFactor > 1 runs as 1",
    ),
    "AWS::Lambda::Permission": Support(
        NOT_EMULATED,
        "invocation permissions are not enforced: the gateway and the mappings invoke functions directly",
    ),
    # REST API
    "AWS::ApiGateway::RestApi": Support(RUNS, "served on the API port"),
    "AWS::ApiGateway::Resource": Support(RUNS),
    "AWS::ApiGateway::Method": Support(
        RUNS,
        "Lambda proxy (AWS_PROXY) integrations only; API key, request validator and model apply",
    ),
    "AWS::ApiGateway::Model": Support(RUNS, "the schema validates request bodies"),
    "AWS::ApiGateway::RequestValidator": Support(RUNS),
    "AWS::ApiGateway::Deployment": Support(RUNS),
    "AWS::ApiGateway::Stage": Support(
        PARTLY,
        "the stage name is served; MethodSettings (stage throttling, logging, metrics), access logs and tracing do not apply",
    ),
    "AWS::ApiGateway::UsagePlan": Support(
        PARTLY,
        "throttle and quota per API key apply; per-method throttles (ApiStages[].Throttle) do not",
    ),
    "AWS::ApiGateway::ApiKey": Support(
        RUNS, "the value is generated locally and kept in the state folder"
    ),
    "AWS::ApiGateway::UsagePlanKey": Support(RUNS),
    "AWS::ApiGateway::Account": Support(NOT_EMULATED, _NO_CLOUDWATCH),
    # Firehose, warehouse, Glue
    "AWS::KinesisFirehose::DeliveryStream": Support(
        PARTLY,
        "Kinesis source to Redshift (S3 staging + COPY) with buffering, prefixes, retries; no S3 backup copy, CloudWatch logging or processors; Firehose must reach the workgroup as AWS requires",
    ),
    "AWS::RedshiftServerless::Namespace": Support(
        PARTLY,
        "PostgreSQL stands in for Redshift (docs/warehouse.md); database and admin user apply, log exports do not",
    ),
    "AWS::RedshiftServerless::Workgroup": Support(
        PARTLY,
        "its endpoint is the local warehouse port (GetWorkgroup describes it); capacity and config parameters do not apply; public access, subnets and security groups decide Firehose reachability",
    ),
    "AWS::Glue::Database": Support(RUNS),
    "AWS::Glue::Table": Support(RUNS),
    "AWS::Glue::Connection": Support(
        PARTLY,
        "JDBC URL and secret apply (the workgroup endpoint is served locally); PhysicalConnectionRequirements (VPC) do not",
    ),
    "AWS::Glue::Job": Support(
        PARTLY,
        "the script asset runs on local Spark with its DefaultArguments and --extra-py-files; one driver (worker type and count recorded); SecurityConfiguration does not apply",
    ),
    "AWS::Glue::SecurityConfiguration": Support(
        NOT_EMULATED, "no KMS here: Glue output, logs and bookmarks are not encrypted locally"
    ),
    "AWS::Glue::Trigger": Support(
        NOT_EMULATED, "no scheduler here: start runs with StartJobRun (`make e2e` does)"
    ),
    # around it
    "AWS::IAM::Role": Support(NOT_EMULATED, _NO_IAM),
    "AWS::IAM::Policy": Support(NOT_EMULATED, _NO_IAM),
    "AWS::IAM::ManagedPolicy": Support(NOT_EMULATED, _NO_IAM),
    "AWS::S3::BucketPolicy": Support(NOT_EMULATED, _NO_POLICY),
    "AWS::SQS::QueuePolicy": Support(NOT_EMULATED, _NO_POLICY),
    "AWS::SNS::TopicPolicy": Support(NOT_EMULATED, _NO_POLICY),
    "AWS::Logs::LogGroup": Support(
        PARTLY,
        "functions log to /aws/lambda/<function> in moto's CloudWatch Logs (created on first use; a LoggingConfig naming another group is not followed); retention, the API's access logs and Firehose's error logs do not apply",
    ),
    "AWS::Logs::LogStream": Support(
        NOT_EMULATED, "Firehose's error log streams: Firehose logs to <state>/logs/runtime.log here"
    ),
    "AWS::CloudWatch::Alarm": Support(NOT_EMULATED, _NO_CLOUDWATCH),
    "AWS::SNS::Topic": Support(NOT_EMULATED, _NO_CLOUDWATCH),
    "AWS::SNS::Subscription": Support(NOT_EMULATED, _NO_CLOUDWATCH),
    "AWS::Events::Rule": Support(
        NOT_EMULATED, "no EventBridge here: nothing emits the events it matches"
    ),
    "AWS::KMS::Key": Support(NOT_EMULATED, "no KMS here: data is not encrypted at rest locally"),
    "AWS::KMS::Alias": Support(NOT_EMULATED, "no KMS here: data is not encrypted at rest locally"),
    "AWS::EC2::VPC": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::Subnet": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::RouteTable": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::Route": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::SubnetRouteTableAssociation": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::InternetGateway": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::VPCGatewayAttachment": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::NatGateway": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::EIP": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::SecurityGroup": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::SecurityGroupIngress": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::SecurityGroupEgress": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::VPCEndpoint": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::EC2::FlowLog": Support(NOT_EMULATED, _NO_NETWORK),
    "AWS::CloudFormation::CustomResource": Support(
        NOT_EMULATED,
        "custom resources run a provider Lambda at deploy time; what they would create is missing locally",
    ),
    "Custom::*": Support(
        NOT_EMULATED,
        "custom resources run a provider Lambda at deploy time; what they would create is missing locally",
    ),
}
UNKNOWN = Support(NOT_EMULATED, "unknown to template mode")
IGNORED = {"AWS::CDK::Metadata"}
"""Not resources of the application (CDK's usage metadata)."""


def support(resource_type: str) -> Support:
    if resource_type in RESOURCE_TYPES:
        return RESOURCE_TYPES[resource_type]
    if resource_type.startswith("Custom::"):
        return RESOURCE_TYPES["Custom::*"]
    return UNKNOWN


def summary(template: dict, not_run=()) -> dict[str, list[tuple[str, int, str]]]:
    """Per status, the template's types with their count and note. `not_run`: resources that do not
    run although their type does (`model.NotRun`: a Node.js function, ...), listed apart."""
    excepted = {e.logical_id for e in not_run}
    counts = Counter(
        r["Type"]
        for lid, r in template.get("Resources", {}).items()
        if r["Type"] not in IGNORED and lid not in excepted
    )
    out: dict[str, list[tuple[str, int, str]]] = {RUNS: [], PARTLY: [], NOT_EMULATED: []}
    for kind, count in sorted(counts.items()):
        s = support(kind)
        out[s.status].append((kind, count, s.note))
    for e in not_run:
        out[NOT_EMULATED].append((f"{e.resource_type} {e.logical_id}", 1, e.reason))
    return out


def markdown() -> str:
    """docs/cloudformation.md's table section, generated from RESOURCE_TYPES."""
    lines = ["| resource type | template mode | gap or reason |", "|---|---|---|"]
    order = {RUNS: 0, PARTLY: 1, NOT_EMULATED: 2}
    for kind, s in sorted(RESOURCE_TYPES.items(), key=lambda kv: (order[kv[1].status], kv[0])):
        lines.append(f"| `{kind}` | {s.status} | {s.note.replace('|', '/')} |")
    lines.append(f"| any other type | {UNKNOWN.status} | {UNKNOWN.note} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- resource types: generated -->\n", "<!-- end of resource types -->"


def write_docs(path) -> None:
    """Replace the generated table of docs/cloudformation.md (between its markers)."""
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    path.write_text(head + BEGIN + markdown() + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        from pathlib import Path

        write_docs(Path(__file__).resolve().parents[2] / "docs" / "cloudformation.md")
    else:
        sys.stdout.write(markdown())
