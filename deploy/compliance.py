"""Acknowledged scanner findings, each next to the resource it concerns, with its reason.

Two scanners read the template: cdk-nag (rules acknowledged through CDK's `Validations` API, the
cdk-nag v3 way) and checkov (skips written into the resource's `Metadata.checkov.skip`, the form
checkov reads from CloudFormation). Both helpers demand a reason a reviewer can check.

With the context value `deploy:record_acknowledgments=true` acknowledgments are recorded as
construct metadata (`deploy:acknowledgment`) instead of applied, so synthesis reports every
finding: `tests/deploy/test_acknowledgments.py` holds each acknowledgment to a real finding.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

RECORD_CONTEXT = "deploy:record_acknowledgments"
RECORD_METADATA = "deploy:acknowledgment"


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """cdk-nag: accept finding `rule` (e.g. `AwsSolutions-IAM5[Resource::*]`) on this construct."""
    if len(reason) < 20:
        raise ValueError(f"acknowledging {rule}: give a real reason, not {reason!r}")
    if construct.node.try_get_context(RECORD_CONTEXT) in (True, "true"):
        construct.node.add_metadata(RECORD_METADATA, {"rule": rule, "reason": reason})
        return
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def checkov_skip(construct: IConstruct, check: str, reason: str) -> None:
    """checkov: skip `check` (e.g. `CKV_AWS_117`) on this construct's CloudFormation resource."""
    if len(reason) < 20:
        raise ValueError(f"skipping {check}: give a real reason, not {reason!r}")
    resource = _cfn(construct)
    meta = resource.get_metadata("checkov") or {"skip": []}
    meta["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", meta)


def logical_id(construct: IConstruct) -> str:
    """The logical id (an unresolved token) of the construct's CloudFormation resource."""
    return _cfn(construct).logical_id


def _cfn(construct: IConstruct) -> CfnResource:
    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    return child
