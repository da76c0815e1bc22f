"""Template assertions: every security and reliability property the stack promises."""

from __future__ import annotations

from aws_cdk.assertions import Match

from pipeline.resources import PIPELINE


def test_every_api_method_requires_an_api_key(synthesized):
    methods = synthesized.resources("AWS::ApiGateway::Method")
    assert len(methods) == len(PIPELINE.api.routes)
    for name, method in methods.items():
        assert method["Properties"]["ApiKeyRequired"] is True, name
        assert "RequestValidatorId" in method["Properties"], name


def test_post_events_validates_the_body_against_the_shared_model(synthesized):
    from pipeline.api_models import REQUEST_MODELS

    models = synthesized.resources("AWS::ApiGateway::Model")
    by_name = {m["Properties"]["Name"]: m["Properties"] for m in models.values()}
    for route in PIPELINE.api.routes:
        if route.request_model:
            assert by_name[route.request_model]["Schema"] == REQUEST_MODELS[route.request_model]
    synthesized.assertions.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "RequestModels": {"application/json": "SaleEventBatch"}},
    )
    synthesized.assertions.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )


def test_usage_plan_has_the_described_throttle_and_quota(synthesized):
    plan = PIPELINE.api.usage_plan
    synthesized.assertions.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "UsagePlanName": plan.name,
            "Throttle": {"RateLimit": plan.rate_limit, "BurstLimit": plan.burst_limit},
            "Quota": {"Limit": plan.quota_limit, "Period": plan.quota_period},
            "ApiStages": Match.array_with([Match.object_like({"Stage": Match.any_value()})]),
        },
    )
    keys = synthesized.resources("AWS::ApiGateway::ApiKey")
    assert sorted(k["Properties"]["Name"] for k in keys.values()) == sorted(plan.api_keys)


def test_stage_has_access_logs_and_tracing(synthesized):
    synthesized.assertions.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": PIPELINE.api.stage,
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        },
    )


def test_mappings_bisect_report_failures_and_fail_over_to_a_queue(synthesized):
    mappings = synthesized.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(PIPELINE.event_source_mappings)
    for name, m in mappings.items():
        props = m["Properties"]
        assert props["BisectBatchOnFunctionError"] is True, name
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert "Arn" in str(props["DestinationConfig"]["OnFailure"]["Destination"]), name


def test_no_security_group_is_open_to_the_world(synthesized):
    for kind in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress"):
        for name, sg in synthesized.resources(kind).items():
            rules = (
                sg["Properties"].get("SecurityGroupIngress", [])
                if kind.endswith("Group")
                else [sg["Properties"]]
            )
            for rule in rules:
                assert rule.get("CidrIp") not in ("0.0.0.0/0",), name
                assert rule.get("CidrIpv6") not in ("::/0",), name


def test_only_the_warehouse_subnets_route_to_the_internet(synthesized):
    from .test_deliverability import _internet_routed

    assert not synthesized.resources("AWS::EC2::NatGateway")
    assert len(synthesized.resources("AWS::EC2::InternetGateway")) == 1
    routed = {n for n in synthesized.resources("AWS::EC2::Subnet")
              if _internet_routed(synthesized.template, n)}
    wg = next(iter(synthesized.resources("AWS::RedshiftServerless::Workgroup").values()))
    assert routed == {s["Ref"] for s in wg["Properties"]["SubnetIds"]}
    for name, subnet in synthesized.resources("AWS::EC2::Subnet").items():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False, name


def test_vpc_endpoints_cover_what_the_vpc_calls(synthesized):
    def suffix(name):
        text = name if isinstance(name, str) else name["Fn::Join"][1][-1]
        return text.rsplit(".", 1)[-1]

    endpoints = [e["Properties"] for e in synthesized.resources("AWS::EC2::VPCEndpoint").values()]
    by_kind = {}
    for e in endpoints:
        by_kind.setdefault(e.get("VpcEndpointType", "Gateway"), set()).add(suffix(e["ServiceName"]))
    assert by_kind == {
        "Gateway": {"s3", "dynamodb"},
        "Interface": {"kinesis-streams", "glue", "secretsmanager", "sts", "logs"},
    }
    for e in endpoints:
        if e.get("VpcEndpointType") == "Interface":
            assert e["PrivateDnsEnabled"] is True
            assert len(e["SubnetIds"]) == 1  # endpoint_azs defaults to one zone (cost)


def test_functions_run_in_the_vpc_with_tracing(synthesized):
    for name, fn in synthesized.resources("AWS::Lambda::Function").items():
        if fn["Properties"].get("FunctionName") in {f.name for f in PIPELINE.functions}:
            assert fn["Properties"]["VpcConfig"]["SubnetIds"], name
            assert fn["Properties"]["TracingConfig"] == {"Mode": "Active"}, name
            assert fn["Properties"]["Runtime"] == "python3.11", name


def test_warehouse_has_described_capacity_and_limit(synthesized):
    synthesized.assertions.has_resource_properties(
        "AWS::RedshiftServerless::Workgroup",
        {
            "PubliclyAccessible": True,  # for Firehose only: test_deliverability.py item 4
            "EnhancedVpcRouting": True,
            "BaseCapacity": PIPELINE.warehouse.base_rpu,
            "SubnetIds": Match.any_value(),
        },
    )
    wg = next(iter(synthesized.resources("AWS::RedshiftServerless::Workgroup").values()))
    assert len(wg["Properties"]["SubnetIds"]) >= 3
    ns = next(iter(synthesized.resources("AWS::RedshiftServerless::Namespace").values()))[
        "Properties"
    ]
    assert ns["AdminUserPassword"]["Fn::Join"][1][0].startswith("{{resolve:secretsmanager:")
    limit = next(iter(synthesized.resources("Custom::AWS").values()))["Properties"]
    assert "createUsageLimit" in str(limit["Create"]) and "deactivate" in str(limit["Create"])
    assert f'"amount":{PIPELINE.warehouse.max_rpu_hours_per_day},' in str(limit["Create"])


def test_encryption_everywhere(synthesized):
    for name, s in synthesized.resources("AWS::Kinesis::Stream").items():
        assert s["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS", name
    for name, t in synthesized.resources("AWS::DynamoDB::Table").items():
        assert t["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    for name, q in synthesized.resources("AWS::SQS::Queue").items():
        assert q["Properties"].get("SqsManagedSseEnabled") or q["Properties"].get(
            "KmsMasterKeyId"
        ), name
    for name, b in synthesized.resources("AWS::S3::Bucket").items():
        assert b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
    for name, t in synthesized.resources("AWS::SNS::Topic").items():
        assert t["Properties"]["KmsMasterKeyId"], name


def test_tables_have_point_in_time_recovery(synthesized):
    tables = synthesized.resources("AWS::DynamoDB::Table")
    assert len(tables) == len(PIPELINE.tables)
    for name, t in tables.items():
        assert (
            t["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
            is True
        ), name


def test_buckets_block_public_access_enforce_tls_and_log_access(synthesized):
    buckets = synthesized.resources("AWS::S3::Bucket")
    policies = {
        str(p["Properties"]["Bucket"]): p
        for p in synthesized.resources("AWS::S3::BucketPolicy").values()
    }
    for name, b in buckets.items():
        assert b["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        policy = policies[str({"Ref": name})]
        tls = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert tls, f"{name} does not deny plain HTTP"
    described = [n for n, b in buckets.items() if "BucketName" in b["Properties"]]
    assert len(described) == len(PIPELINE.buckets)
    for name in described:
        assert "LoggingConfiguration" in buckets[name]["Properties"], name


def test_staging_buckets_expire_their_objects(synthesized):
    buckets = synthesized.resources("AWS::S3::Bucket")
    for spec in PIPELINE.buckets:
        b = next(
            b
            for b in buckets.values()
            if spec.name_prefix in str(b["Properties"].get("BucketName"))
        )
        rules = b["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any("ExpirationInDays" in r for r in rules) == spec.staging, spec.id


def test_alarms_cover_iterator_age_queues_firehose_and_glue(synthesized):
    alarms = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    metrics = {a.get("MetricName") for a in alarms}
    assert {
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
        "DeliveryToRedshift.Success",
        "TriggeredRules",
    } <= metrics
    assert sum(a.get("MetricName") == "IteratorAge" for a in alarms) == len(
        PIPELINE.event_source_mappings
    )
    assert all(a["AlarmActions"] for a in alarms)
    synthesized.assertions.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail": {
                    "jobName": [j.name for j in PIPELINE.glue_jobs],
                    "state": ["FAILED", "TIMEOUT", "ERROR"],
                },
            }
        },
    )


def test_outputs_give_the_client_what_it_needs(synthesized):
    outputs = synthesized.template["Outputs"]
    for key in (
        "ApiUrl",
        "ApiKeyIdReplayClient",
        "TableCustomer",
        "TableInvoice",
        "BucketRawArchive",
        "StreamSalesEvents",
        "WarehouseWorkgroup",
        "Region",
    ):
        assert key in outputs, key


def test_template_stays_well_under_cloudformation_limits(synthesized):
    size = synthesized.template_path.stat().st_size
    assert size < 1_000_000, f"template is {size} bytes; CloudFormation rejects > 1 MB"
    assert len(synthesized.template["Resources"]) < 500
