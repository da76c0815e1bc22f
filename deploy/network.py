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

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .compliance import checkov_skip
from .firehose_cidrs import firehose_cidr
from .settings import DeploySettings

WAREHOUSE_PORT = 5439
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
        checkov_skip(
            self.vpc,
            "CKV2_AWS_12",
            "the default security group is attached to nothing; every tier has its own group",
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
            "Warehouse", "Redshift Serverless: SQL from the Glue job and the Firehose block of the region"
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
