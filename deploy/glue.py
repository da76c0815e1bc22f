"""The batch path on AWS: the Glue Data Catalog database and table over the raw archive, the JDBC
connection to the warehouse (credentials of the job's dedicated user, never the admin; ENIs in an
isolated subnet), the Glue 5.0 job running the description's script (an S3 asset) with its
first-party modules zipped beside it and bookmarks on, and the schedule that starts it.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from pipeline.glue_job_arguments import job_arguments
from pipeline.resource_schema import Resources

from .bundling import BUILD_DIR, REPO_ROOT, build_glue_libs
from .compliance import acknowledge, checkov_skip, logical_id
from .network import ENI_WILDCARD_REASON, ENI_WILDCARD_RULE, Network, ec2_arn, eni_statements
from .storage import Storage
from .warehouse import Warehouse

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
GLUE_DESCRIBE_ACTIONS = (
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
)
"""What Glue reads about the connection's network (AWSGlueServiceRole); EC2 Describe* calls
support no resource-level permissions, so these alone are granted on Resource "*"."""
GLUE_TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
GLUE_TAG_KEY = "aws-glue-service-resource"
"""Glue tags the ENIs it creates with this key only (AWSGlueServiceRole's condition)."""
AWS_ONLY_ARGUMENTS = {
    "--extra-py-files": "the first-party modules the script imports, as a zip asset (Glue runs the "
    "script alone; the local runner is given the same zip by template mode)",
    "--enable-continuous-cloudwatch-log": "stream the driver's log to CloudWatch while it runs",
}
"""DefaultArguments only the AWS job has, beyond the shared `job_arguments` (drift-tested)."""
CATALOG_ACCESS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    # The job registers the archive's new event_date partitions itself before reading
    # (pipeline/glue/catalog_partitions.py): nothing else does on AWS.
    "glue:BatchCreatePartition",
)


class GlueBatch(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        storage: Storage,
        network: Network,
        warehouse: Warehouse,
        schedule: str,
    ):
        super().__init__(scope, id)
        self.schedule = schedule
        self.databases = {}
        self.tables = {}
        for db in sorted({t.database for t in resources.glue_tables}):
            self.databases[db] = glue.CfnDatabase(
                self,
                f"Database-{db}",
                catalog_id=Aws.ACCOUNT_ID,
                database_input=glue.CfnDatabase.DatabaseInputProperty(name=db),
            )
        for spec in resources.glue_tables:
            self.tables[spec.name] = self._table(spec, storage)
        self.connections: dict[str, glue.CfnConnection] = {}
        self.jobs: dict[str, glue.CfnJob] = {}
        self.roles: dict[str, iam.Role] = {}
        for job in resources.glue_jobs:
            conn_name = job.default_arguments.get("--REDSHIFT_CONNECTION")
            if conn_name and conn_name not in self.connections:
                self.connections[conn_name] = self._connection(conn_name, job, network, warehouse)
            self.jobs[job.name] = self._job(job, resources, storage, network, warehouse, conn_name)

    def _table(self, spec, storage: Storage) -> glue.CfnTable:
        def col(c):
            return glue.CfnTable.ColumnProperty(name=c.name, type=c.type)

        bucket = storage.buckets[spec.bucket]
        table = glue.CfnTable(
            self,
            f"Table-{spec.name}",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=spec.database,
            table_input=glue.CfnTable.TableInputProperty(
                name=spec.name,
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": spec.classification,
                    "compressionType": spec.compression,
                },
                partition_keys=[col(c) for c in spec.partition_keys],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[col(c) for c in spec.columns],
                    location=f"s3://{bucket.bucket_name}/{spec.prefix}",
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    compressed=spec.compression != "none",
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=JSON_SERDE),
                ),
            ),
        )
        table.node.add_dependency(self.databases[spec.database])
        return table

    def _connection(
        self, name: str, job, network: Network, warehouse: Warehouse
    ) -> glue.CfnConnection:
        if not job.warehouse_secret:
            raise ValueError(f"glue job {job.name}: set warehouse_secret (its own warehouse user)")
        subnet = network.vpc.isolated_subnets[0]
        connection = glue.CfnConnection(
            self,
            f"Connection-{name}",
            catalog_id=Aws.ACCOUNT_ID,
            connection_input=glue.CfnConnection.ConnectionInputProperty(
                name=name,
                connection_type="JDBC",
                connection_properties={
                    "JDBC_CONNECTION_URL": warehouse.jdbc_url,
                    # The secret's name is the description's (a literal, as Glue expects).
                    "SECRET_ID": job.warehouse_secret,
                },
                physical_connection_requirements=glue.CfnConnection.PhysicalConnectionRequirementsProperty(
                    availability_zone=subnet.availability_zone,
                    subnet_id=subnet.subnet_id,
                    security_group_id_list=[network.glue_sg.security_group_id],
                ),
            ),
        )
        connection.node.add_dependency(warehouse.secrets[job.warehouse_secret])
        return connection

    def _job(
        self,
        spec,
        resources: Resources,
        storage: Storage,
        network: Network,
        warehouse: Warehouse,
        conn_name: str | None,
    ) -> glue.CfnJob:
        stack = Stack.of(self)
        script_path = REPO_ROOT / spec.script
        if not script_path.is_file():
            raise FileNotFoundError(
                f"glue job {spec.name}: script {spec.script} (pipeline/resources.py) does not exist"
            )
        script = assets.Asset(self, f"Script-{spec.name}", path=str(script_path))
        bundle = build_glue_libs(script_path, BUILD_DIR / "glue" / f"{spec.name}.zip")
        libs = assets.Asset(self, f"Libs-{spec.name}", path=str(bundle))
        temp = storage.buckets[spec.temp_bucket]
        sources = {storage.buckets[t.bucket] for t in resources.glue_tables}
        catalog = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        user_secret = warehouse.secrets[spec.warehouse_secret] if spec.warehouse_secret else None
        log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws-glue/*"
        statements = [
            iam.PolicyStatement(
                actions=list(CATALOG_ACCESS),
                resources=[f"{catalog}:catalog"]
                + [f"{catalog}:database/{d}" for d in self.databases]
                + [f"{catalog}:table/{t.database}/{t.name}" for t in resources.glue_tables],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:ListBucket"],
                resources=[arn for b in sources for arn in (b.bucket_arn, b.arn_for_objects("*"))],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                resources=[temp.bucket_arn, temp.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    script.bucket.arn_for_objects(script.s3_object_key),
                    libs.bucket.arn_for_objects(libs.s3_object_key),
                ],
            ),
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_groups],
            ),
            *eni_statements(
                [network.vpc.isolated_subnets[0].subnet_id], [network.glue_sg], private_ips=False
            ),
            iam.PolicyStatement(
                actions=list(GLUE_TAG_ACTIONS),
                resources=[ec2_arn("network-interface", "*")],
                conditions={"ForAllValues:StringEquals": {"aws:TagKeys": [GLUE_TAG_KEY]}},
            ),
            iam.PolicyStatement(actions=list(GLUE_DESCRIBE_ACTIONS), resources=["*"]),
        ]
        if conn_name:
            if user_secret is None:
                raise ValueError(f"glue job {spec.name}: a connection needs warehouse_secret")
            statements.append(
                iam.PolicyStatement(
                    actions=["glue:GetConnection"],
                    resources=[f"{catalog}:catalog", f"{catalog}:connection/{conn_name}"],
                )
            )
            statements.append(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[user_secret.secret_arn]
                )
            )
        role = iam.Role(
            self,
            f"Role-{spec.name}",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=f"Glue job {spec.name}: read the catalog and archive, write its temp bucket, load the warehouse",
            inline_policies={"least-privilege": iam.PolicyDocument(statements=statements)},
        )
        self.roles[spec.name] = role
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "only EC2 Describe* reads (connection subnet, groups, routes, endpoints), which support no resource-level permissions",
        )
        acknowledge(role, ENI_WILDCARD_RULE, ENI_WILDCARD_REASON)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*]",
            "Glue creates its own log groups under /aws-glue/ with run-specific streams",
        )
        for b in sources | {temp}:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.resolve(logical_id(b))}.Arn>/*]",
                "Spark reads and writes objects under run-generated keys; the grant is limited to this bucket",
            )
        security = glue.CfnSecurityConfiguration(
            self,
            f"Security-{spec.name}",
            name=f"{spec.name}-security",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(s3_encryption_mode="SSE-S3")
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="DISABLED"
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="DISABLED"
                ),
            ),
        )
        checkov_skip(
            security,
            "CKV_AWS_99",
            "S3 output is encrypted; CloudWatch and bookmark encryption in Glue need a customer KMS key (see AwsSolutions-GL1/GL3)",
        )
        # The one function both targets call, then only the AWS-only extras.
        args = job_arguments(resources, spec, lambda ident: storage.buckets[ident].bucket_name)
        args.update(
            {"--extra-py-files": libs.s3_object_url, "--enable-continuous-cloudwatch-log": "true"}
        )
        job = glue.CfnJob(
            self,
            f"Job-{spec.name}",
            name=spec.name,
            role=role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            glue_version=spec.glue_version,
            worker_type=spec.worker_type,
            number_of_workers=spec.number_of_workers,
            timeout=spec.timeout_min,
            default_arguments=args,
            connections=glue.CfnJob.ConnectionsListProperty(connections=[conn_name])
            if conn_name
            else None,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=security.name,
        )
        job.node.add_dependency(security)
        if conn_name:
            job.node.add_dependency(self.connections[conn_name])
        # What starts the job on AWS: a run with no new data ends without a warehouse statement.
        trigger = glue.CfnTrigger(
            self,
            f"Schedule-{spec.name}",
            name=f"{spec.name}-schedule",
            type="SCHEDULED",
            schedule=self.schedule,
            start_on_creation=True,
            description=f"start {spec.name} on a schedule (context batch_schedule; docs/deploy.md)",
            actions=[glue.CfnTrigger.ActionProperty(job_name=spec.name)],
        )
        trigger.add_dependency(job)
        acknowledge(
            job,
            "AwsSolutions-GL1",
            "CloudWatch log encryption in Glue needs a customer KMS key; logs hold run output, not customer data beyond the archive's",
        )
        acknowledge(
            job,
            "AwsSolutions-GL3",
            "bookmark encryption in Glue needs a customer KMS key; bookmarks hold only S3 keys and timestamps",
        )
        return job
