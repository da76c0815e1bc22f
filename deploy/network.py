"""The network: isolated subnets (no internet route at all) for the code, the VPC endpoints AWS
services are reached through, public subnets holding only the warehouse, and each tier's group.

The warehouse is the one publicly accessible resource: Firehose's Redshift destination connects
from Firehose's regional public address block, so AWS documents a public workgroup admitting that
block on its port (deploy/firehose_cidrs.py; the trade-off is in docs/deploy.md). Its subnets are
routed to an internet gateway; nothing else is placed in them.

Gateway endpoints (free): S3 and DynamoDB. Interface endpoints ($0.01/h per zone each), only for
what code inside the VPC calls: Kinesis (ingest Lambda's PutRecords), and for the Glue job:
Glue (catalog, bookmarks), Secrets Manager (connection credentials), STS, CloudWatch Logs.
Lambda's own logs and trace segments leave through the Lambda service, not the VPC.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .firehose_cidrs import firehose_cidr
from .settings import DeploySettings

WAREHOUSE_PORT = 5439
ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface")
"""ENI actions with resource-level permissions (Service Authorization Reference, Amazon EC2):
scoped to this account and region's network interfaces; Create also to the subnets and group."""
ENI_IP_ACTIONS = ("ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")
"""Lambda also manages its ENIs' private IPs (AWSLambdaVPCAccessExecutionRole); per interface."""
INTERFACE_ENDPOINTS = {
    "Kinesis": ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


class Network(Construct):
    def __init__(
        self, scope: Construct, id: str, *, settings: DeploySettings, flow_log_bucket: s3.IBucket
    ):
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            availability_zones=list(settings.azs),
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                ),
                # Only the workgroup lives here; nothing gets a public IP on launch.
                ec2.SubnetConfiguration(
                    name="warehouse",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
            ],
            restrict_default_security_group=False,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
            flow_logs={
                "ToS3": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(flow_log_bucket, "vpc-flow-logs/")
                )
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.warehouse_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

        self.lambda_sg = self._group(
            "Functions", "Lambda functions: HTTPS out to VPC endpoints only"
        )
        self.lambda_sg.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS to endpoints (isolated subnets have no internet route)",
        )

        self.warehouse_sg = self._group(
            "Warehouse",
            "Redshift Serverless: SQL from the Glue job and the Firehose block of the region",
        )
        self.firehose_cidr = firehose_cidr(settings.region)
        self.warehouse_sg.add_ingress_rule(
            ec2.Peer.ipv4(self.firehose_cidr),
            ec2.Port.tcp(WAREHOUSE_PORT),
            "Firehose COPY from its regional address block (Firehose developer guide)",
        )
        self.warehouse_sg.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "COPY/UNLOAD to S3 through the gateway endpoint"
        )

        self.glue_sg = self._group(
            "GlueJob", "Glue job ENIs: Spark between workers, SQL to the warehouse"
        )
        # Glue requires a self-referencing rule so its driver and executors can talk to each other.
        self.glue_sg.add_ingress_rule(
            self.glue_sg, ec2.Port.all_tcp(), "Glue workers to each other (Glue requirement)"
        )
        self.glue_sg.add_egress_rule(
            self.glue_sg, ec2.Port.all_tcp(), "Glue workers to each other (Glue requirement)"
        )
        self.glue_sg.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS to endpoints (isolated subnets have no internet route)",
        )
        self.glue_sg.add_egress_rule(
            self.warehouse_sg, ec2.Port.tcp(WAREHOUSE_PORT), "SQL to the warehouse"
        )
        self.warehouse_sg.add_ingress_rule(
            self.glue_sg, ec2.Port.tcp(WAREHOUSE_PORT), "SQL from the Glue job"
        )

        # Interface endpoints accept HTTPS only from the tiers that call AWS APIs from the VPC.
        self.endpoint_sg = self._group(
            "Endpoints", "Interface endpoints: HTTPS from the functions and the Glue job"
        )
        for client in (self.lambda_sg, self.glue_sg):
            self.endpoint_sg.add_ingress_rule(client, ec2.Port.tcp(443), "HTTPS from a VPC tier")
        endpoint_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
            availability_zones=list(settings.azs[: settings.endpoint_azs]),
        )
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=endpoint_subnets,
                security_groups=[self.endpoint_sg],
                private_dns_enabled=True,
                open=False,
            )

    def _group(self, name: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, name, vpc=self.vpc, description=description, allow_all_outbound=False
        )


def ec2_arn(kind: str, ident: str) -> str:
    return f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:{kind}/{ident}"


def eni_statements(
    subnet_ids: list[str], groups: list[ec2.ISecurityGroup], *, private_ips: bool
) -> list[iam.PolicyStatement]:
    """What a VPC-attached Lambda or Glue job needs to create and delete its own ENIs, scoped:
    create only in `subnet_ids` with `groups`; delete (and IP changes) on network interfaces of
    this account and region (their ids are assigned at creation, so no narrower ARN exists)."""
    interfaces = ec2_arn("network-interface", "*")
    manage = [ENI_ACTIONS[1], *(ENI_IP_ACTIONS if private_ips else ())]
    return [
        iam.PolicyStatement(
            actions=[ENI_ACTIONS[0]],
            resources=[interfaces]
            + [ec2_arn("subnet", s) for s in subnet_ids]
            + [ec2_arn("security-group", g.security_group_id) for g in groups],
        ),
        iam.PolicyStatement(actions=manage, resources=[interfaces]),
    ]


ENI_WILDCARD_RULE = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]"
ENI_WILDCARD_REASON = (
    "ENI ids are assigned when the service creates them, so delete/IP actions name this account and "
    "region's network interfaces; creation is limited to the tier's subnets and security group"
)
