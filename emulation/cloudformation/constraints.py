"""AWS-documented network rules that decide whether data flows, checked on the template.

Firehose -> Redshift: Firehose connects to the cluster or workgroup from its own address range,
outside any VPC. AWS (Firehose developer guide, "VPC access to an Amazon Redshift cluster") requires
the destination to be publicly accessible and its security group to admit the region's Firehose
CIDR block on the database port; a public endpoint is reachable only from subnets routed to an
internet gateway. `firehose_to_redshift` returns what the template breaks of that, or nothing; a
delivery stream that cannot connect then fails every COPY as on AWS (retries for its retry
duration, then its manifest goes to the errors prefix).
"""

from __future__ import annotations

import ipaddress
import re

# Firehose's CIDR block per region for Redshift (and OpenSearch) destinations, from the Firehose
# developer guide's "Grant Firehose access to an Amazon Redshift destination".
FIREHOSE_CIDRS = {
    "us-east-2": "13.58.135.96/27",
    "us-east-1": "52.70.63.192/27",
    "us-west-1": "13.57.135.192/27",
    "us-west-2": "52.89.255.224/27",
    "us-gov-east-1": "18.253.138.96/27",
    "us-gov-west-1": "52.61.204.160/27",
    "ca-central-1": "35.183.92.128/27",
    "af-south-1": "13.244.121.224/27",
    "ap-east-1": "18.162.221.32/27",
    "ap-south-1": "13.232.67.32/27",
    "ap-northeast-1": "13.113.196.224/27",
    "ap-northeast-2": "13.209.1.64/27",
    "ap-northeast-3": "13.208.177.192/27",
    "ap-southeast-1": "13.228.64.192/27",
    "ap-southeast-2": "13.210.67.224/27",
    "ap-southeast-3": "108.136.221.64/27",
    "eu-central-1": "35.158.127.160/27",
    "eu-west-1": "52.19.239.192/27",
    "eu-west-2": "18.130.1.96/27",
    "eu-west-3": "35.180.1.96/27",
    "eu-south-1": "15.161.135.128/27",
    "eu-north-1": "13.53.63.224/27",
    "me-south-1": "15.185.91.0/27",
    "sa-east-1": "18.228.1.128/27",
    "cn-north-1": "52.81.151.32/27",
    "cn-northwest-1": "161.189.23.64/27",
}
_JDBC_HOST = re.compile(r"^jdbc:redshift://([^:/]+)")


def firehose_to_redshift(template: dict, evaluate, ids, jdbc_url: str) -> list[str]:
    """What keeps Firehose from connecting to the workgroup `jdbc_url` names ([] when nothing)."""
    resources = template["Resources"]
    match = _JDBC_HOST.match(jdbc_url)
    host = match.group(1) if match else ""
    workgroups = [
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::RedshiftServerless::Workgroup" and ids.workgroup_endpoint(lid) == host
    ]
    if not workgroups:
        return [f"{jdbc_url} names no Redshift Serverless workgroup of this stack"]
    lid = workgroups[0]
    props = evaluate(resources[lid].get("Properties", {}), f"Resources.{lid}.Properties")
    name, port, region = props.get("WorkgroupName", lid), int(props.get("Port", 5439)), ids.region
    problems = []
    if not _true(props.get("PubliclyAccessible", False)):
        problems.append(f"workgroup {name} is not publicly accessible (PubliclyAccessible: false)")
    unrouted = [
        s
        for s in props.get("SubnetIds", [])
        if not _routed_to_internet(resources, evaluate, ids, s)
    ]
    if unrouted or not props.get("SubnetIds"):
        named = {ids.ref(lid, ""): lid for lid in _of_type(resources, "AWS::EC2::Subnet")}
        problems.append(
            f"workgroup {name}: subnet(s) {', '.join(named.get(s, str(s)) for s in unrouted) or '(none)'} "
            "have no route to an internet gateway"
        )
    cidr = FIREHOSE_CIDRS.get(region)
    if cidr is None:
        problems.append(f"no Firehose CIDR block is documented for region {region}")
    elif not any(
        _admits(resources, evaluate, ids, group, cidr, port)
        for group in props.get("SecurityGroupIds", [])
    ):
        problems.append(
            f"no security group of workgroup {name} admits Firehose's CIDR {cidr} ({region}) "
            f"on port {port}"
        )
    return problems


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"


def _of_type(resources: dict, kind: str) -> list[str]:
    return [lid for lid, r in resources.items() if r["Type"] == kind]


def _routed_to_internet(resources: dict, evaluate, ids, subnet_id: str) -> bool:
    tables = set()
    for lid in _of_type(resources, "AWS::EC2::SubnetRouteTableAssociation"):
        props = evaluate(resources[lid]["Properties"], lid)
        if props.get("SubnetId") == subnet_id:
            tables.add(props.get("RouteTableId"))
    gateways = {ids.ref(lid, "") for lid in _of_type(resources, "AWS::EC2::InternetGateway")}
    for lid in _of_type(resources, "AWS::EC2::Route"):
        props = evaluate(resources[lid]["Properties"], lid)
        if (
            props.get("RouteTableId") in tables
            and props.get("DestinationCidrBlock") == "0.0.0.0/0"
            and props.get("GatewayId") in gateways
        ):
            return True
    return False


def _admits(resources: dict, evaluate, ids, group_id: str, cidr: str, port: int) -> bool:
    rules = []
    for lid in _of_type(resources, "AWS::EC2::SecurityGroup"):
        if ids.ref(lid, "") == group_id:
            rules += evaluate(resources[lid]["Properties"], lid).get("SecurityGroupIngress", [])
    for lid in _of_type(resources, "AWS::EC2::SecurityGroupIngress"):
        props = evaluate(resources[lid]["Properties"], lid)
        if props.get("GroupId") == group_id:
            rules.append(props)
    source = ipaddress.ip_network(cidr)
    for rule in rules:
        if "CidrIp" not in rule:
            continue
        protocol = str(rule.get("IpProtocol", "")).lower()
        if protocol not in ("tcp", "6", "-1"):
            continue
        ports_ok = protocol == "-1" or int(rule.get("FromPort", -1)) <= port <= int(
            rule.get("ToPort", -1)
        )
        allowed = ipaddress.ip_network(rule["CidrIp"], strict=False)
        if ports_ok and source.version == allowed.version and source.subnet_of(allowed):  # type: ignore[arg-type]
            return True
    return False
