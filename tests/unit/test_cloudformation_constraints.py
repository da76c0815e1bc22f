"""emulation.cloudformation.constraints: Firehose reaches a Redshift workgroup only as AWS documents
(publicly accessible, subnets routed to an internet gateway, the region's Firehose CIDR admitted on
the port). The template's own design is checked, not a flag."""

from __future__ import annotations

import copy

import pytest

from emulation.cloudformation.translate import describe

from .cloudformation_support import minimal_stack, public_workgroup, write_assembly


def firehose(tmp_path, template):
    resources = describe(write_assembly(tmp_path / "cdk.out", template))
    return resources.firehoses[0], resources.problems


def test_the_documented_public_design_reaches_the_workgroup(tmp_path):
    fh, problems = firehose(tmp_path, public_workgroup(minimal_stack()))
    assert fh.unreachable is None and problems == ()


def test_an_ingress_rule_declared_as_its_own_resource_counts_too(tmp_path):
    fh, _ = firehose(tmp_path, public_workgroup(minimal_stack(), inline_rule=False))
    assert fh.unreachable is None


def test_a_private_workgroup_in_isolated_subnets_is_unreachable_for_every_reason(tmp_path):
    fh, problems = firehose(tmp_path, minimal_stack())
    assert "not publicly accessible" in fh.unreachable
    assert "no route to an internet gateway" in fh.unreachable
    assert "admits Firehose's CIDR 52.70.63.192/27 (us-east-1) on port 5439" in fh.unreachable
    assert problems and "Firehose to-warehouse cannot connect" in problems[0]


@pytest.mark.parametrize("breakage, reason", [
    (lambda r: r["Workgroup"]["Properties"].update(PubliclyAccessible=False), "not publicly accessible"),
    (lambda r: r.pop("Default1"), "no route to an internet gateway"),
    (lambda r: r["Default1"]["Properties"].update(DestinationCidrBlock="10.0.0.0/8"), "no route to an internet gateway"),
    (lambda r: r["WarehouseSg"]["Properties"]["SecurityGroupIngress"][0].update(CidrIp="10.0.0.0/16"), "admits Firehose's CIDR"),
    (lambda r: r["WarehouseSg"]["Properties"]["SecurityGroupIngress"][0].update(FromPort=443, ToPort=443), "on port 5439"),
    (lambda r: r["WarehouseSg"]["Properties"]["SecurityGroupIngress"][0].update(IpProtocol="udp"), "admits Firehose's CIDR"),
])
def test_each_part_of_the_rule_is_needed(tmp_path, breakage, reason):
    template = public_workgroup(minimal_stack())
    breakage(template["Resources"])
    fh, _ = firehose(tmp_path, template)
    assert fh.unreachable is not None and reason in fh.unreachable


def test_a_wider_cidr_and_an_all_traffic_rule_admit_firehose(tmp_path):
    for rule in ({"CidrIp": "52.70.0.0/16", "FromPort": 5439, "ToPort": 5439, "IpProtocol": "tcp"},
                 {"CidrIp": "0.0.0.0/0", "IpProtocol": "-1"}):
        template = public_workgroup(minimal_stack())
        template["Resources"]["WarehouseSg"]["Properties"]["SecurityGroupIngress"] = [rule]
        fh, _ = firehose(tmp_path / rule["IpProtocol"], copy.deepcopy(template))
        assert fh.unreachable is None, rule
