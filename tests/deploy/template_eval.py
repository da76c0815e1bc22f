"""Evaluate a synthesized template's values offline, and ask what an IAM role's policies allow.

`Evaluator(template)(value)` resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select` with
a fixed account and region: a resource's `Ref` is its physical name where the template sets one
(else `<LogicalId>`), `Fn::GetAtt [X, Arn]` the ARN AWS would give it. `allows(...)` matches
actions and resources with IAM's `*`/`?` wildcards (Allow statements only: the stack has no Deny
in identity policies), which is enough to catch a missing or mis-scoped grant.
"""

from __future__ import annotations

import fnmatch
import re

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "EcommercePipeline",
}
NAME_PROPERTY = {
    "AWS::Kinesis::Stream": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Glue::Job": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::RedshiftServerless::Workgroup": "WorkgroupName",
    "AWS::RedshiftServerless::Namespace": "NamespaceName",
}
_ARN = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{region}:{account}:stream/{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf",
}


class Evaluator:
    def __init__(self, template: dict):
        self.resources = template["Resources"]

    def name(self, logical: str) -> str:
        res = self.resources[logical]
        prop = NAME_PROPERTY.get(res["Type"])
        if prop and prop in res.get("Properties", {}):
            return str(self(res["Properties"][prop]))
        return logical

    def ref(self, logical: str) -> str:
        if logical in PSEUDO:
            return PSEUDO[logical]
        res = self.resources[logical]
        if res["Type"] in ("AWS::SecretsManager::Secret", "AWS::SNS::Topic"):
            return self.arn(logical)  # Ref of a secret or topic is its ARN
        if res["Type"] == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name(logical)}"
        return self.name(logical)

    def arn(self, logical: str) -> str:
        res = self.resources[logical]
        pattern = _ARN.get(res["Type"])
        if pattern is None:
            return f"arn:aws:<{res['Type']}>:{REGION}:{ACCOUNT}:{logical}"
        return pattern.format(region=REGION, account=ACCOUNT, name=self.name(logical))

    def get_att(self, logical: str, attribute: str) -> str:
        if attribute == "Arn" or attribute.endswith(".Arn"):
            return self.arn(logical)
        return f"<{logical}.{attribute}>"

    def __call__(self, value):
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: self(v) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical, attribute)
        if fn == "Fn::Join":
            return arg[0].join(str(self(v)) for v in arg[1])
        if fn == "Fn::Select":
            return self(arg[1])[int(self(arg[0]))]
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(match):
                key = match.group(1)
                if key in extra:
                    return str(self(extra[key]))
                if "." in key:
                    return self.get_att(*key.split(".", 1))
                return self.ref(key)

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        raise AssertionError(f"cannot evaluate {value}")


def role_statements(template: dict, role_logical: str) -> list[dict]:
    """The Allow statements of a role: its inline policies and every AWS::IAM::Policy attached."""
    role = template["Resources"][role_logical]["Properties"]
    docs = [p["PolicyDocument"] for p in role.get("Policies", [])]
    docs += [r["Properties"]["PolicyDocument"] for r in template["Resources"].values()
             if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical} in r["Properties"]["Roles"]]
    out = []
    for doc in docs:
        stmts = doc["Statement"]
        out += stmts if isinstance(stmts, list) else [stmts]
    return [s for s in out if s.get("Effect", "Allow") == "Allow"]


def _as_list(x):
    return x if isinstance(x, list) else [x]


def allows(template: dict, role_logical: str, action: str, resource: str) -> list[dict]:
    """The role's statements that allow `action` on `resource` (conditions are returned, not
    evaluated: the caller asserts on them)."""
    ev = Evaluator(template)
    found = []
    for s in role_statements(template, role_logical):
        actions = _as_list(s["Action"])
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(resource, str(ev(r))) for r in _as_list(s["Resource"])):
            found.append(s)
    return found


def role_of(template: dict, cfn_type: str, name_prop: str, name: str, role_prop: str = "Role") -> str:
    """Logical id of the role a resource (e.g. a Glue job named `name`) runs with."""
    for r in template["Resources"].values():
        if r["Type"] == cfn_type and r["Properties"].get(name_prop) == name:
            role = r["Properties"][role_prop]
            return role["Fn::GetAtt"][0]
    raise AssertionError(f"no {cfn_type} with {name_prop}={name}")
