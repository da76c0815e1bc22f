"""The Lambda functions and their Kinesis event-source mappings, from the description.

Each function gets its own role holding exactly: the description's `permissions` (what its code
calls), plus the extras AWS itself needs, listed in `EXTRAS` with their reason. CDK's automatic
grants are switched off (`without_policy_updates`) so nothing else slips in; a test holds the
synthesized policies to description + EXTRAS.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from pipeline.resource_schema import Resources, resolve_placeholders

from .bundling import build_code, build_layer
from .compliance import acknowledge, checkov_skip, logical_id
from .names import AwsNames
from .network import ENI_WILDCARD_REASON, ENI_WILDCARD_RULE, Network, eni_statements
from .storage import Storage

RUNTIME = lambda_.Runtime.PYTHON_3_11
LOG_RETENTION = logs.RetentionDays.ONE_YEAR

# Actions AWS requires beyond what the code calls: (actions, resource kind, reason).
EXTRAS = {
    "logs": (
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        "the function's log group",
        "the Lambda service writes the function's logs with its role",
    ),
    "eni": (
        (
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ),
        "network interfaces of this account and region (create: also the function's subnets and group)",
        "a function in a VPC creates and deletes its ENIs with its role (deploy.network.eni_statements)",
    ),
    "eni_describe": (
        ("ec2:DescribeNetworkInterfaces",),
        "*",
        "DescribeNetworkInterfaces works only when allowed on all resources (Lambda developer guide)",
    ),
    "xray": (
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        "*",
        "active tracing; X-Ray has no resource-level permissions",
    ),
    "mapping_read": (
        (
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
        ),
        "the mapped stream",
        "the event-source mapping polls the stream with the function's role",
    ),
    "mapping_on_failure": (
        ("sqs:SendMessage",),
        "the mapping's on-failure queue",
        "the mapping sends discarded-batch metadata to the on-failure destination with the function's role",
    ),
}
WILDCARD_REASON = {k: v[2] for k, v in EXTRAS.items() if v[1] == "*"}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        storage: Storage,
        network: Network,
        names: AwsNames,
        reserve_concurrency: bool = False,
    ):
        super().__init__(scope, id)
        self._storage = storage
        self._reserve = reserve_concurrency
        code = lambda_.Code.from_asset(str(build_code()))
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(build_layer())),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="pipeline runtime dependencies ([project.dependencies])",
            removal_policy=RemovalPolicy.DESTROY,
        )
        mapped = {m.function: m for m in resources.event_source_mappings}
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in resources.functions:
            self.functions[spec.name] = self._function(
                spec, code, network, names, mapped.get(spec.name)
            )
        for m in resources.event_source_mappings:
            self._mapping(m)

    def _function(self, spec, code, network: Network, names: AwsNames, mapping) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"Logs-{spec.name}",
            log_group_name=f"/aws/lambda/{spec.name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        checkov_skip(
            log_group,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts log data at rest by default; a CMK adds cost, not protection needed here",
        )
        statements = [
            iam.PolicyStatement(
                actions=list(EXTRAS["logs"][0]), resources=[f"{log_group.log_group_arn}"]
            )
        ]
        for grant in spec.permissions:
            statements.append(
                iam.PolicyStatement(actions=list(grant.actions), resources=self._arns(grant))
            )
        subnet_ids = network.vpc.select_subnets(subnet_type=network.subnets.subnet_type).subnet_ids
        statements += eni_statements(subnet_ids, [network.lambda_sg], private_ips=True)
        statements.append(
            iam.PolicyStatement(actions=list(EXTRAS["eni_describe"][0]), resources=["*"])
        )
        statements.append(iam.PolicyStatement(actions=list(EXTRAS["xray"][0]), resources=["*"]))
        if mapping is not None:
            stream = self._storage.streams[mapping.stream]
            statements.append(
                iam.PolicyStatement(
                    actions=list(EXTRAS["mapping_read"][0]), resources=[stream.stream_arn]
                )
            )
            if mapping.on_failure_queue:
                queue = self._storage.queues[mapping.on_failure_queue]
                statements.append(
                    iam.PolicyStatement(
                        actions=list(EXTRAS["mapping_on_failure"][0]), resources=[queue.queue_arn]
                    )
                )
        role = iam.Role(
            self,
            f"Role-{spec.name}",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.name}: exactly its described permissions plus documented AWS extras",
            inline_policies={"least-privilege": iam.PolicyDocument(statements=statements)},
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "only actions AWS allows on Resource * alone: " + "; ".join(WILDCARD_REASON.values()),
        )
        acknowledge(role, ENI_WILDCARD_RULE, ENI_WILDCARD_REASON)
        for grant in spec.permissions:
            if "{bucket:" in grant.resource:
                ident = grant.resource.split(":", 1)[1].rstrip("}")
                logical = logical_id(self._storage.buckets[ident])
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Resource::<{_resolve_logical(self, logical)}.Arn>/*]",
                    "object-level S3 actions name objects by key; the grant is limited to this one bucket",
                )
        self.roles[spec.name] = role
        env = {k: resolve_placeholders(v, names.physical) for k, v in spec.environment.items()}
        fn = lambda_.Function(
            self,
            f"Function-{spec.name}",
            function_name=spec.name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=spec.handler,
            code=code,
            layers=[self.layer],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            environment=env,
            reserved_concurrent_executions=self._reserved(spec),
            tracing=lambda_.Tracing.ACTIVE,
            vpc=network.vpc,
            vpc_subnets=network.subnets,
            security_groups=[network.lambda_sg],
            log_group=log_group,
            role=role.without_policy_updates(),
        )
        acknowledge(
            fn,
            "AwsSolutions-L1",
            "python3.11 on purpose: Glue 5.0 runs 3.11 and the tests run 3.11, so one set of wheels ships",
        )
        checkov_skip(fn, "CKV_AWS_173", "the environment holds only resource names, no secrets")
        checkov_skip(
            fn,
            "CKV_AWS_116",
            "no asynchronous invocations: API calls are synchronous and stream batches fail over to the mapping's on-failure queue",
        )
        if spec.reserved_concurrency is None:
            checkov_skip(
                fn,
                "CKV_AWS_115",
                "stream consumer: concurrency is bounded by shards x parallelization factor of its mapping",
            )
        elif not self._reserve:
            checkov_skip(
                fn,
                "CKV_AWS_115",
                "reservations are opt-in (-c reserve_concurrency=true): an account at the default "
                "Lambda quota cannot reserve any; the API's usage plan throttles this function's callers",
            )
        return fn

    def _reserved(self, spec) -> int | None:
        return spec.reserved_concurrency if self._reserve else None

    def _arns(self, grant) -> list[str]:
        kind, ident = grant.resource.strip("{}").split(":", 1)
        s = self._storage
        if kind == "stream":
            return [s.streams[ident].stream_arn]
        if kind == "table":
            return [s.tables[ident].table_arn]
        if kind == "queue":
            return [s.queues[ident].queue_arn]
        if kind == "bucket":
            return [s.buckets[ident].arn_for_objects("*")]
        raise ValueError(f"no ARN rule for permission resource {grant.resource!r}")

    def _mapping(self, m) -> None:
        fn = self.functions[m.function]
        fn.add_event_source(
            sources.KinesisEventSource(
                self._storage.streams[m.stream],
                starting_position=lambda_.StartingPosition[m.starting_position],
                batch_size=m.batch_size,
                max_batching_window=Duration.seconds(m.maximum_batching_window_s),
                bisect_batch_on_error=m.bisect_batch_on_function_error,
                retry_attempts=None if m.maximum_retry_attempts == -1 else m.maximum_retry_attempts,
                max_record_age=None
                if m.maximum_record_age_s == -1
                else Duration.seconds(m.maximum_record_age_s),
                report_batch_item_failures=m.report_batch_item_failures,
                parallelization_factor=m.parallelization_factor,
                on_failure=sources.SqsDlq(self._storage.queues[m.on_failure_queue])
                if m.on_failure_queue
                else None,
            )
        )


def _resolve_logical(scope: Construct, logical_id) -> str:
    from aws_cdk import Stack

    return Stack.of(scope).resolve(logical_id)
