"""The pipeline stack: one construct per concern, all built from the one resource description."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from pipeline.resource_schema import Resources

from .alarms import Alarms
from .api import RestApi
from .firehose import Firehoses
from .functions import Functions
from .glue import GlueBatch
from .names import AwsNames
from .network import Network
from .settings import DeploySettings
from .storage import Storage
from .warehouse import Warehouse


def output_key(kind: str, ident: str) -> str:
    """`Bucket` + `raw-archive` -> `BucketRawArchive` (output keys are alphanumeric)."""
    return kind + "".join(
        part.capitalize() for part in ident.replace("_", "-").replace("/", "-").split("-")
    )


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        settings: DeploySettings,
        alarm_email: str | None = None,
        **kwargs,
    ):
        super().__init__(
            scope,
            id,
            description=f"{resources.project}: stream + batch ecommerce pipeline",
            **kwargs,
        )
        self.resources = resources
        self.storage = Storage(self, "Storage", resources=resources)
        self.network = Network(
            self, "Network", settings=settings, flow_log_bucket=self.storage.access_logs
        )
        self.warehouse = Warehouse(self, "Warehouse", resources=resources, network=self.network)
        names = AwsNames(
            self.storage.streams,
            self.storage.tables,
            self.storage.buckets,
            self.storage.queues,
            self.warehouse.secrets,
            {f.name: f.name for f in resources.firehoses},
        )
        self.functions = Functions(
            self,
            "Functions",
            resources=resources,
            storage=self.storage,
            network=self.network,
            names=names,
            reserve_concurrency=settings.reserve_concurrency,
        )
        self.api = RestApi(self, "Api", resources=resources, functions=self.functions.functions)
        self.firehoses = Firehoses(
            self, "Firehose", resources=resources, storage=self.storage, warehouse=self.warehouse
        )
        self.glue = GlueBatch(
            self,
            "Glue",
            resources=resources,
            storage=self.storage,
            network=self.network,
            warehouse=self.warehouse,
            schedule=settings.batch_schedule,
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            resources=resources,
            functions=self.functions.functions,
            queues=self.storage.queues,
            firehoses=self.firehoses.streams,
            glue_jobs=self.glue.jobs,
            email=alarm_email,
        )
        self._outputs()

    def _outputs(self) -> None:
        """What `python -m pipeline.client e2e --stack aws` and the schema step read (docs/deploy.md)."""

        def out(key, value, desc):
            return CfnOutput(self, key, value=value, description=desc)

        out("Region", Aws.REGION, "region of the stack")
        out("ApiUrl", self.api.api.url, "REST API stage URL (ends with /<stage>/)")
        for name, key in self.api.api_keys.items():
            out(
                output_key("ApiKeyId", name),
                key.key_id,
                f"id of API key {name}: aws apigateway get-api-key --include-value --api-key <id>",
            )
        for name, table in self.storage.tables.items():
            out(output_key("Table", name), table.table_name, f"DynamoDB table {name}")
        for ident, bucket in self.storage.buckets.items():
            out(output_key("Bucket", ident), bucket.bucket_name, f"S3 bucket {ident}")
        for name, stream in self.storage.streams.items():
            out(output_key("Stream", name), stream.stream_name, f"Kinesis stream {name}")
        for name, secret in self.warehouse.secrets.items():
            out(output_key("SecretArn", name), secret.secret_arn, f"secret {name}")
        out(
            "WarehouseWorkgroup",
            self.warehouse.workgroup.workgroup_name,
            "Redshift Serverless workgroup (Data API target)",
        )
        out("WarehouseDatabase", self.resources.required_warehouse.database, "warehouse database")
        for name in self.glue.jobs:
            out(output_key("GlueJob", name), name, f"Glue job {name}")
