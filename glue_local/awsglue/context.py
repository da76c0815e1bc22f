"""GlueContext: `create_dynamic_frame.*`, `write_dynamic_frame.*`, `spark_session`, `get_logger()`.

Reads resolve tables through the Data Catalog of the cloud at `AWS_ENDPOINT_URL` (boto3) and
read their S3 objects (_s3_source.py); writes to JDBC connections load the Redshift stand-in
(_redshift_sink.py). The Spark session is set up as Glue's is where it shows in results: UTC
session time zone, partition values from paths kept as strings.

Known gaps vs AWS: sources are Data Catalog JSON tables and S3 JSON paths; sinks are JDBC
(Redshift) connections and S3 json/csv. No DynamoDB, Kafka, Kinesis or marketplace connectors,
no `additional_options` beyond those named in the methods, no Lake Formation.
"""

from __future__ import annotations

import logging
import sys

from pyspark.sql import SparkSession

from . import _redshift_sink, _s3_source
from .dynamicframe import DynamicFrame


class GlueLogger:
    """Glue's logger (info/warn/error), writing to stderr: the job run's log."""

    def __init__(self):
        self._log = logging.getLogger("glue_local.job")
        if not self._log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s glue: %(message)s"))
            self._log.addHandler(handler)
            self._log.setLevel(logging.INFO)
            self._log.propagate = False

    def info(self, message: str) -> None:
        self._log.info(message)

    def warn(self, message: str) -> None:
        self._log.warning(message)

    def error(self, message: str) -> None:
        self._log.error(message)


class DynamicFrameReader:
    def __init__(self, glue_context):
        self._ctx = glue_context

    def from_catalog(
        self,
        database=None,
        table_name=None,
        redshift_tmp_dir="",
        transformation_ctx="",
        push_down_predicate="",
        additional_options=None,
        catalog_id=None,
        **kwargs,
    ):
        database = database or kwargs.pop("name_space", None)
        if not database:
            raise Exception("Parameter name_space or database is missing.")
        if not table_name:
            raise Exception("Parameter table_name is missing.")
        return _s3_source.read_catalog_table(
            self._ctx, database, table_name, push_down_predicate, transformation_ctx, catalog_id
        )

    def from_options(
        self,
        connection_type,
        connection_options=None,
        format=None,
        format_options=None,
        transformation_ctx="",
        push_down_predicate="",
        **kwargs,
    ):
        options = connection_options or {}
        if connection_type != "s3" or (format or "json") != "json":
            raise NotImplementedError(
                f"glue_local reads connection_type='s3' format='json' only, not "
                f"{connection_type!r}/{format!r}"
            )
        bookmarks = getattr(self._ctx, "_bookmarks", None)
        seen = bookmarks.seen(transformation_ctx) if bookmarks else {}
        staged = _s3_source.stage_objects(
            [p.rstrip("/") + "/" if not p.endswith(".gz") else p for p in options.get("paths", [])],
            seen,
        )
        if bookmarks:
            bookmarks.record(transformation_ctx, staged.etags)
        spark = self.spark
        if staged.files:
            df = spark.read.json(staged.files)
        else:
            df = spark.createDataFrame([], "value string")
        return DynamicFrame(df, self._ctx, transformation_ctx or "from_options")

    @property
    def spark(self):
        return self._ctx.spark_session


class DynamicFrameWriter:
    def __init__(self, glue_context):
        self._ctx = glue_context

    def from_jdbc_conf(
        self,
        frame,
        catalog_connection,
        connection_options=None,
        redshift_tmp_dir="",
        transformation_ctx="",
        catalog_id=None,
    ):
        _redshift_sink.write_jdbc_conf(
            self._ctx,
            frame,
            catalog_connection,
            connection_options or {},
            redshift_tmp_dir,
            catalog_id,
        )
        return frame

    def from_options(
        self,
        frame,
        connection_type,
        connection_options=None,
        format=None,
        format_options=None,
        transformation_ctx="",
    ):
        if connection_type != "s3":
            raise NotImplementedError(
                f"glue_local writes connection_type='s3' only, not "
                f"{connection_type!r} (use from_jdbc_conf for Redshift)"
            )
        _redshift_sink.write_s3(
            frame, connection_options or {}, format or "json", format_options or {}
        )
        return frame


class GlueContext:
    def __init__(self, sparkContext, **options):
        _s3_source.name_files_as_s3()
        self._sc = sparkContext
        self.spark_session = SparkSession(sparkContext)
        self.spark_session.conf.set("spark.sql.session.timeZone", "UTC")
        self.spark_session.conf.set(
            "spark.sql.sources.partitionColumnTypeInference.enabled", "false"
        )
        # List the staged files on the driver: a Spark job per 32+ paths costs more than it saves.
        self.spark_session.conf.set(
            "spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000"
        )
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)
        self._logger = GlueLogger()
        self._bookmarks = None

    def get_logger(self) -> GlueLogger:
        return self._logger

    # Glue's long-form aliases of the reader/writer methods.
    def create_dynamic_frame_from_catalog(self, *args, **kwargs):
        return self.create_dynamic_frame.from_catalog(*args, **kwargs)

    def create_dynamic_frame_from_options(self, *args, **kwargs):
        return self.create_dynamic_frame.from_options(*args, **kwargs)

    def write_dynamic_frame_from_jdbc_conf(self, *args, **kwargs):
        return self.write_dynamic_frame.from_jdbc_conf(*args, **kwargs)

    def write_dynamic_frame_from_options(self, *args, **kwargs):
        return self.write_dynamic_frame.from_options(*args, **kwargs)

    def extract_jdbc_conf(self, connection_name, catalog_id=None) -> dict:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(_redshift_sink.connection_dsn(connection_name, None, catalog_id))
        return {
            "user": info.get("user"),
            "password": info.get("password"),
            "url": f"jdbc:redshift://{info.get('host')}:{info.get('port')}/{info.get('dbname')}",
            "vendor": "redshift",
        }
