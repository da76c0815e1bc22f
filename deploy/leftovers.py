"""What `python -m deploy destroy` leaves behind, read from the synthesized template.

Every resource whose DeletionPolicy keeps it (RetainExceptOnCreate: the data stores and the
warehouse credentials, docs/deploy.md) is listed with its physical name and the AWS CLI command
that deletes it. The names are fixed, so a later deploy into the same account and region fails
until they are gone.
"""

from __future__ import annotations

from dataclasses import dataclass

KEPT = ("Retain", "RetainExceptOnCreate")
_NAME = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::RedshiftServerless::Namespace": "NamespaceName",
    "AWS::SecretsManager::Secret": "Name",
}
_DELETE = {
    "AWS::DynamoDB::Table": "aws dynamodb delete-table --table-name {name}",
    # Versioned buckets: `rb --force` removes current objects only; empty every version first.
    "AWS::S3::Bucket": "aws s3api delete-objects ... (all versions), then aws s3 rb s3://{name} --force",
    "AWS::RedshiftServerless::Namespace": (
        "aws redshift-serverless delete-namespace --namespace-name {name}"
    ),
    # Without the flag the name stays reserved for the 7-30 day recovery window.
    "AWS::SecretsManager::Secret": (
        "aws secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery"
    ),
}


@dataclass(frozen=True)
class Leftover:
    logical_id: str
    kind: str
    name: str
    delete_command: str


def leftovers(
    template: dict, account: str, region: str, physical_ids: dict[str, str] | None = None
) -> list[Leftover]:
    """`physical_ids` (logical -> physical, from DescribeStackResources) names what CloudFormation
    named itself (the access-log bucket); without it those show as `<generated for ...>`."""
    physical_ids = physical_ids or {}
    out = []
    for logical, res in template["Resources"].items():
        if res.get("DeletionPolicy") not in KEPT:
            continue
        kind = res["Type"]
        if kind not in _NAME:
            raise ValueError(
                f"{logical} ({kind}) is retained but deploy/leftovers.py cannot name it"
            )
        value = res.get("Properties", {}).get(_NAME[kind])
        if logical in physical_ids:
            name = physical_ids[logical]
        elif value is not None:
            name = _resolve(value, account, region)
        else:
            name = f"<generated for {logical}>"
        out.append(Leftover(logical, kind, name, _DELETE[kind].format(name=name)))
    return sorted(out, key=lambda item: (item.kind, item.name))


def _resolve(value, account: str, region: str) -> str:
    """Literal names and CDK's `Fn::Join` of literals and the account/region pseudo parameters."""
    if isinstance(value, str):
        return value
    pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws"}
    if "Ref" in value and value["Ref"] in pseudo:
        return pseudo[value["Ref"]]
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_resolve(p, account, region) for p in parts)
    raise ValueError(f"cannot name {value!r} offline")
