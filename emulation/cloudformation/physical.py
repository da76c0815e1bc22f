"""What `Ref` and `Fn::GetAtt` return for each resource type, in the local cloud.

Named resources keep the name the template gives (evaluated); a resource the template leaves
unnamed gets a name the way CloudFormation makes one, `<stack>-<logical id>-<suffix>` cut to the
service's limit, with a suffix derived from the logical id instead of a random one (so every process
of the local cloud computes the same name). Ids AWS assigns (security groups, subnets, API ids) are
derived the same way; `known` overrides any of them with what the local cloud actually assigned
(the REST API's id, a secret's ARN), once provisioning has created it.

The Redshift Serverless workgroup's endpoint is `<workgroup>.<account>.<region>.redshift-serverless
.amazonaws.com` as on AWS; the local warehouse serves it (`TemplateResources.warehouse_endpoint`).

Known gaps vs CloudFormation: attributes of types not listed in `_ATTRIBUTES` are unresolvable;
a secret's ARN suffix and generated names differ from AWS's random ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from .intrinsics import Unresolvable

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# type -> (property holding the name, the service's length limit, lowercase names)
_NAMES: dict[str, tuple[str, int, bool]] = {
    "AWS::Kinesis::Stream": ("Name", 128, False),
    "AWS::DynamoDB::Table": ("TableName", 255, False),
    "AWS::S3::Bucket": ("BucketName", 63, True),
    "AWS::SQS::Queue": ("QueueName", 80, False),
    "AWS::Lambda::Function": ("FunctionName", 64, False),
    "AWS::Lambda::LayerVersion": ("LayerName", 140, False),
    "AWS::IAM::Role": ("RoleName", 64, False),
    "AWS::SecretsManager::Secret": ("Name", 512, False),
    "AWS::Logs::LogGroup": ("LogGroupName", 512, False),
    "AWS::Logs::LogStream": ("LogStreamName", 512, False),
    "AWS::SNS::Topic": ("TopicName", 256, False),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName", 64, False),
    "AWS::Events::Rule": ("Name", 64, False),
    "AWS::Glue::Job": ("Name", 255, False),
    "AWS::Glue::Trigger": ("Name", 255, False),
    "AWS::Glue::SecurityConfiguration": ("Name", 255, False),
    "AWS::ApiGateway::Stage": ("StageName", 128, False),
    "AWS::ApiGateway::Model": ("Name", 128, False),
    "AWS::RedshiftServerless::Workgroup": ("WorkgroupName", 64, True),
    "AWS::RedshiftServerless::Namespace": ("NamespaceName", 64, True),
}
# Names nested one level down (`DatabaseInput.Name`).
_NESTED_NAMES = {
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Table": ("TableInput", "Name"),
    "AWS::Glue::Connection": ("ConnectionInput", "Name"),
}
# Ids AWS assigns: type -> prefix of the id.
_IDS = {
    "AWS::EC2::VPC": "vpc-",
    "AWS::EC2::Subnet": "subnet-",
    "AWS::EC2::SecurityGroup": "sg-",
    "AWS::EC2::RouteTable": "rtb-",
    "AWS::EC2::InternetGateway": "igw-",
    "AWS::EC2::VPCEndpoint": "vpce-",
    "AWS::EC2::NatGateway": "nat-",
    "AWS::EC2::FlowLog": "fl-",
}


class PhysicalIds:
    def __init__(self, stack, account: str, known: dict[tuple[str, str | None], Any] | None = None):
        self.stack = stack
        self.region = stack.region
        self.account = account
        self.known = dict(known or {})
        self.resources = stack.template.get("Resources", {})
        self.evaluate: Callable[[Any, str], Any] | None = None
        """Set by the evaluator that owns these ids: names may themselves be intrinsics."""

    def pseudo(self, name: str, where: str) -> Any:
        values = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack.name,
            "AWS::NotificationARNs": [],
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack.name}/"
            + _digest(self.stack.name, 32),
        }
        if name not in values:
            raise Unresolvable(f"{where}: pseudo parameter {name} is not known here")
        return values[name]

    # -- Ref ---------------------------------------------------------------------------------
    def name(self, logical_id: str) -> str:
        """The physical name of a named type (given or generated as CloudFormation would)."""
        kind = self.resources[logical_id]["Type"]
        props = self.resources[logical_id].get("Properties", {})
        if kind in _NESTED_NAMES:
            outer, inner = _NESTED_NAMES[kind]
            return self._evaluated(props.get(outer, {}).get(inner), logical_id)
        prop, limit, lower = _NAMES.get(kind, ("", 255, False))
        given = props.get(prop) if prop else None
        if given is not None:
            return self._evaluated(given, logical_id)
        return self.generated_name(logical_id, limit, lower)

    def generated_name(self, logical_id: str, limit: int = 255, lower: bool = False) -> str:
        suffix = _digest(logical_id, 13).upper()
        head = f"{self.stack.name}-{logical_id}"[: max(1, limit - len(suffix) - 1)]
        name = f"{head}-{suffix}"
        return name.lower() if lower else name

    def ref(self, logical_id: str, where: str) -> Any:
        if (logical_id, None) in self.known:
            return self.known[(logical_id, None)]
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.{URL_SUFFIX}/{self.account}/{self.name(logical_id)}"
        if kind == "AWS::SecretsManager::Secret":
            return self._arn(logical_id, "Arn")
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account}:{self.name(logical_id)}"
        if kind == "AWS::Lambda::LayerVersion":
            return f"arn:aws:lambda:{self.region}:{self.account}:layer:{self.name(logical_id)}:1"
        if kind in _NAMES or kind in _NESTED_NAMES:
            return self.name(logical_id)
        if kind in _IDS:
            return _IDS[kind] + _digest(logical_id, 17)
        # REST API, resources, deployments, keys, plans, validators, policies, custom resources: an
        # id AWS assigns (the REST API's is replaced by moto's through `known` once it exists).
        return _digest(logical_id, 10)

    # -- GetAtt --------------------------------------------------------------------------------
    def attribute(self, logical_id: str, attribute: str, where: str) -> Any:
        if (logical_id, attribute) in self.known:
            return self.known[(logical_id, attribute)]
        kind = self.resources[logical_id]["Type"]
        rule = _ATTRIBUTES.get(kind, {}).get(attribute)
        if rule is None:
            raise Unresolvable(
                f"{where}: {kind} attribute {attribute!r} is not known to template mode"
            )
        return rule(self, logical_id)

    def _arn(self, logical_id: str, _attribute: str = "Arn") -> str:
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{self.region}:{self.account}:key/{self.ref(logical_id, '')}"
        if kind not in _ARN_FORMATS:
            raise Unresolvable(f"Resources.{logical_id}: no ARN rule for {kind}")
        name = self.name(logical_id)
        arn = _ARN_FORMATS[kind].format(r=self.region, a=self.account, name=name)
        if kind == "AWS::SecretsManager::Secret":  # Secrets Manager appends 6 random characters
            arn += "-" + _digest(name, 6)
        return arn

    def workgroup_endpoint(self, logical_id: str) -> str:
        return (
            f"{self.name(logical_id)}.{self.account}.{self.region}.redshift-serverless.{URL_SUFFIX}"
        )

    def _evaluated(self, node: Any, logical_id: str) -> str:
        if isinstance(node, str) or self.evaluate is None:
            return node
        return self.evaluate(node, f"Resources.{logical_id}.Properties")


_ARN_FORMATS = {
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{r}:{a}:stream/{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{a}:role/{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{r}:{a}:secret:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{name}:*",
    "AWS::KinesisFirehose::DeliveryStream": "arn:aws:firehose:{r}:{a}:deliverystream/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{name}",
    "AWS::Events::Rule": "arn:aws:events:{r}:{a}:rule/{name}",
}


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _props(ids: PhysicalIds, logical_id: str) -> dict:
    return ids.resources[logical_id].get("Properties", {})


_ARN = {"Arn": PhysicalIds._arn}
_ATTRIBUTES: dict[str, dict[str, Callable[..., Any]]] = {
    "AWS::Kinesis::Stream": _ARN,
    "AWS::DynamoDB::Table": {
        **_ARN,
        "StreamArn": lambda ids, lid: ids._arn(lid) + "/stream/1970-01-01T00:00:00.000",
    },
    "AWS::S3::Bucket": {
        **_ARN,
        "DomainName": lambda ids, lid: f"{ids.name(lid)}.s3.{URL_SUFFIX}",
        "RegionalDomainName": lambda ids, lid: f"{ids.name(lid)}.s3.{ids.region}.{URL_SUFFIX}",
    },
    "AWS::SQS::Queue": {
        **_ARN,
        "QueueName": lambda ids, lid: ids.name(lid),
        "QueueUrl": lambda ids, lid: ids.ref(lid, ""),
    },
    "AWS::Lambda::Function": _ARN,
    "AWS::IAM::Role": {**_ARN, "RoleId": lambda ids, lid: "AROA" + _digest(lid, 17).upper()},
    "AWS::SecretsManager::Secret": {"Id": lambda ids, lid: ids._arn(lid)},
    "AWS::Logs::LogGroup": _ARN,
    "AWS::KinesisFirehose::DeliveryStream": _ARN,
    "AWS::SNS::Topic": {
        "TopicArn": lambda ids, lid: ids._arn(lid),
        "TopicName": lambda ids, lid: ids.name(lid),
    },
    "AWS::Events::Rule": _ARN,
    "AWS::KMS::Key": {**_ARN, "KeyId": lambda ids, lid: ids.ref(lid, "")},
    "AWS::EC2::SecurityGroup": {
        "GroupId": lambda ids, lid: ids.ref(lid, ""),
        "VpcId": lambda ids, lid: ids.evaluate(_props(ids, lid).get("VpcId"), lid),
    },
    "AWS::EC2::VPC": {
        "VpcId": lambda ids, lid: ids.ref(lid, ""),
        "CidrBlock": lambda ids, lid: _props(ids, lid).get("CidrBlock"),
    },
    "AWS::EC2::Subnet": {
        "SubnetId": lambda ids, lid: ids.ref(lid, ""),
        "AvailabilityZone": lambda ids, lid: _props(ids, lid).get("AvailabilityZone"),
    },
    "AWS::ApiGateway::RestApi": {"RootResourceId": lambda ids, lid: _digest(lid + "/", 10)},
    "AWS::RedshiftServerless::Workgroup": {
        "Workgroup.Endpoint.Address": PhysicalIds.workgroup_endpoint,
        "Workgroup.Endpoint.Port": lambda ids, lid: int(_props(ids, lid).get("Port", 5439)),
        "Workgroup.WorkgroupName": lambda ids, lid: ids.name(lid),
        "Workgroup.WorkgroupArn": lambda ids, lid: (
            f"arn:aws:redshift-serverless:{ids.region}:{ids.account}:workgroup/{_digest(lid, 36)}"
        ),
        "Workgroup.WorkgroupId": lambda ids, lid: _digest(lid, 36),
    },
    "AWS::RedshiftServerless::Namespace": {
        "Namespace.NamespaceName": lambda ids, lid: ids.name(lid),
        "Namespace.NamespaceArn": lambda ids, lid: (
            f"arn:aws:redshift-serverless:{ids.region}:{ids.account}:namespace/{_digest(lid, 36)}"
        ),
    },
}
