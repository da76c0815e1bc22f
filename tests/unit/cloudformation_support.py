"""A small cloud assembly written by hand: what `cdk synth` writes, for tests of template mode that
must not pay for a synthesis. `minimal_stack()` is one of everything the description needs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

STACK = "Shop"
CODE, LAYER, SCRIPT, LIBS = "a" * 64, "b" * 64, "c" * 64, "d" * 64
ASSET_BUCKET = "cdk-hnb659fds-assets-${AWS::AccountId}-us-east-1"


def ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


def att(logical_id: str, attribute: str) -> dict:
    return {"Fn::GetAtt": [logical_id, attribute]}


def code(asset: str, suffix: str = ".zip") -> dict:
    return {"S3Bucket": {"Fn::Sub": ASSET_BUCKET}, "S3Key": asset + suffix}


def minimal_stack() -> dict:
    """Stream, table, bucket, queue, secrets, a function with a layer and a mapping, a REST API,
    a warehouse, a Firehose delivery stream and a Glue job."""
    resources = {
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "events", "ShardCount": 1}},
        "Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": "orders", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}},
        "Archive": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": {"Fn::Join": ["-", ["archive", {"Ref": "AWS::AccountId"}, {"Ref": "AWS::Region"}]]}}},
        "Failures": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "failures"}},
        "Admin": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "shop/admin", "GenerateSecretString": {
            "SecretStringTemplate": json.dumps({"username": "admin"}), "GenerateStringKey": "password",
            "PasswordLength": 24, "ExcludeCharacters": "\"'@/\\ "}}},
        "Loader": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "shop/loader", "GenerateSecretString": {
            "SecretStringTemplate": json.dumps({"username": "loader"}), "GenerateStringKey": "password"}}},
        "Deps": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": code(LAYER)}},
        "Consumer": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "consumer", "Handler": "app.handler", "Runtime": "python3.11", "Code": code(CODE),
            "Layers": [ref("Deps")], "Timeout": 20,
            "Environment": {"Variables": {"TABLE": ref("Orders"), "BUCKET": ref("Archive")}}}},
        "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": att("Stream", "Arn"), "FunctionName": ref("Consumer"),
            "StartingPosition": "TRIM_HORIZON"}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "shop-api"}},
        "Orders0": {"Type": "AWS::ApiGateway::Resource", "Properties": {
            "RestApiId": ref("Api"), "ParentId": att("Api", "RootResourceId"), "PathPart": "orders"}},
        "OrderId": {"Type": "AWS::ApiGateway::Resource", "Properties": {
            "RestApiId": ref("Api"), "ParentId": ref("Orders0"), "PathPart": "{id}"}},
        "Validator": {"Type": "AWS::ApiGateway::RequestValidator", "Properties": {
            "RestApiId": ref("Api"), "ValidateRequestBody": True, "ValidateRequestParameters": True}},
        "ParamsOnly": {"Type": "AWS::ApiGateway::RequestValidator", "Properties": {
            "RestApiId": ref("Api"), "ValidateRequestBody": False, "ValidateRequestParameters": True}},
        "Order": {"Type": "AWS::ApiGateway::Model", "Properties": {
            "RestApiId": ref("Api"), "Name": "Order", "ContentType": "application/json",
            "Schema": {"type": "object", "required": ["id"]}}},
        "PostOrders": {"Type": "AWS::ApiGateway::Method", "Properties": _method("POST", ref("Orders0"), "Validator", "Order")},
        "PutOrder": {"Type": "AWS::ApiGateway::Method", "Properties": _method("PUT", ref("OrderId"), "ParamsOnly", "Order")},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": ref("Api")}},
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {
            "RestApiId": ref("Api"), "DeploymentId": ref("Deployment"), "StageName": "v2"}},
        "Plan": {"Type": "AWS::ApiGateway::UsagePlan", "Properties": {
            "UsagePlanName": "clients", "ApiStages": [{"ApiId": ref("Api"), "Stage": ref("Stage")}],
            "Throttle": {"RateLimit": 7, "BurstLimit": 9}, "Quota": {"Limit": 100, "Period": "WEEK"}}},
        "Key": {"Type": "AWS::ApiGateway::ApiKey", "Properties": {"Name": "client", "Enabled": True}},
        "PlanKey": {"Type": "AWS::ApiGateway::UsagePlanKey", "Properties": {
            "KeyId": ref("Key"), "KeyType": "API_KEY", "UsagePlanId": ref("Plan")}},
        "Namespace": {"Type": "AWS::RedshiftServerless::Namespace", "Properties": {
            "NamespaceName": "shop", "DbName": "shop", "AdminUsername": "admin",
            "AdminUserPassword": {"Fn::Join": ["", ["{{resolve:secretsmanager:", ref("Admin"),
                                                    ":SecretString:password::}}"]]}}},
        "Workgroup": {"Type": "AWS::RedshiftServerless::Workgroup", "Properties": {
            "WorkgroupName": "shop", "NamespaceName": "shop", "BaseCapacity": 8, "Port": 5439,
            "PubliclyAccessible": False}},
        "Delivery": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {
            "DeliveryStreamName": "to-warehouse", "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": att("Stream", "Arn")},
            "RedshiftDestinationConfiguration": {
                "ClusterJDBCURL": {"Fn::Join": ["", ["jdbc:redshift://", att("Workgroup", "Workgroup.Endpoint.Address"), ":5439/shop"]]},
                "CopyCommand": {"DataTableName": "raw.events", "DataTableColumns": "id,amount", "CopyOptions": "JSON 'auto' GZIP"},
                "SecretsManagerConfiguration": {"Enabled": True, "SecretARN": ref("Loader")},
                "RetryOptions": {"DurationInSeconds": 30},
                "S3Configuration": {"BucketARN": att("Archive", "Arn"), "Prefix": "fh/", "ErrorOutputPrefix": "fh-errors/",
                                    "CompressionFormat": "GZIP", "BufferingHints": {"IntervalInSeconds": 5, "SizeInMBs": 1}}}}},
        "Db": {"Type": "AWS::Glue::Database", "Properties": {"CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseInput": {"Name": "shop"}}},
        "Conn": {"Type": "AWS::Glue::Connection", "Properties": {"CatalogId": {"Ref": "AWS::AccountId"}, "ConnectionInput": {
            "Name": "warehouse", "ConnectionType": "JDBC", "ConnectionProperties": {
                "JDBC_CONNECTION_URL": {"Fn::Join": ["", ["jdbc:redshift://", att("Workgroup", "Workgroup.Endpoint.Address"), ":5439/shop"]]},
                "SECRET_ID": {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [6, {"Fn::Split": [":", ref("Loader")]}]}]}]}}}}},
        "Job": {"Type": "AWS::Glue::Job", "Properties": {
            "Name": "load", "Connections": {"Connections": ["warehouse"]}, "Command": {"Name": "glueetl", "ScriptLocation": {"Fn::Sub": f"s3://{ASSET_BUCKET}/{SCRIPT}.py"}},
            "GlueVersion": "5.0", "DefaultArguments": {
                "--TempDir": {"Fn::Join": ["", ["s3://", ref("Archive"), "/tmp/"]]},
                "--extra-py-files": {"Fn::Sub": f"s3://{ASSET_BUCKET}/{LIBS}.zip"}, "--TABLE": "raw"}}},
    }
    return {"Resources": resources, "Outputs": {"Bucket": {"Value": ref("Archive")}}}


def _method(verb: str, resource: dict, validator: str, model: str) -> dict:
    uri = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:us-east-1:lambda:path/2015-03-31/functions/",
                             att("Consumer", "Arn"), "/invocations"]]}
    return {"RestApiId": ref("Api"), "ResourceId": resource, "HttpMethod": verb, "AuthorizationType": "NONE",
            "ApiKeyRequired": True, "RequestValidatorId": ref(validator), "RequestModels": {"application/json": model},
            "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": uri}}


def write_assembly(folder: Path, template: dict) -> Path:
    """`folder` as `cdk synth` leaves it: manifest, template, asset manifest and the assets."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": {
        f"{STACK}.assets": {"type": "cdk:asset-manifest", "properties": {"file": f"{STACK}.assets.json"}},
        STACK: {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/us-east-1",
                "properties": {"templateFile": f"{STACK}.template.json"}, "dependencies": [f"{STACK}.assets"]},
    }}))
    (folder / f"{STACK}.template.json").write_text(json.dumps(copy.deepcopy(template)))
    files = {}
    for asset, packaging, suffix in ((CODE, "zip", ".zip"), (LAYER, "zip", ".zip"), (SCRIPT, "file", ".py"),
                                     (LIBS, "file", ".zip")):
        path = f"asset.{asset}" + ("" if packaging == "zip" else suffix)
        (folder / path).mkdir() if packaging == "zip" else (folder / path).write_text("# asset\n")
        files[asset] = {"source": {"path": path, "packaging": packaging}, "destinations": {"d": {
            "bucketName": ASSET_BUCKET, "objectKey": asset + suffix}}}
    (folder / f"{STACK}.assets.json").write_text(json.dumps({"version": "55.0.0", "files": files}))
    return folder


FIREHOSE_US_EAST_1 = "52.70.63.192/27"


def public_workgroup(template: dict, *, cidr: str = FIREHOSE_US_EAST_1, port: int = 5439,
                     inline_rule: bool = True) -> dict:
    """The design AWS documents for Firehose -> Redshift: a publicly accessible workgroup in subnets
    routed to an internet gateway, its security group admitting the region's Firehose CIDR."""
    t = copy.deepcopy(template)
    r = t["Resources"]
    rule = {"CidrIp": cidr, "FromPort": port, "ToPort": port, "IpProtocol": "tcp"}
    r.update({
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Igw": {"Type": "AWS::EC2::InternetGateway", "Properties": {}},
        "Attach": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {"VpcId": ref("Vpc"), "InternetGatewayId": ref("Igw")}},
        "Public1": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": ref("Vpc"), "CidrBlock": "10.0.0.0/24"}},
        "Routes1": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("Vpc")}},
        "Assoc1": {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {"SubnetId": ref("Public1"), "RouteTableId": ref("Routes1")}},
        "Default1": {"Type": "AWS::EC2::Route", "Properties": {"RouteTableId": ref("Routes1"), "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": ref("Igw")}},
        "WarehouseSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "warehouse", "VpcId": ref("Vpc"), "SecurityGroupIngress": [rule] if inline_rule else []}},
    })
    if not inline_rule:
        r["FirehoseIn"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {**rule, "GroupId": att("WarehouseSg", "GroupId")}}
    r["Workgroup"]["Properties"].update(PubliclyAccessible=True, SubnetIds=[ref("Public1")],
                                        SecurityGroupIds=[att("WarehouseSg", "GroupId")])
    return t
