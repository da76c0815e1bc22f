"""glue_local: the `awsglue` API (AWS Glue 5.0's Python surface) on plain PySpark 3.5.

Put `glue_local/` first on `sys.path` (the local Glue runner does) and a Glue job script's
`from awsglue.context import GlueContext` resolves here. Never shipped to AWS: on Glue the real
`awsglue` is provided by the service. Supported surface and known gaps: glue_local/README.md.
"""

import os

# A job script calls SparkContext.getOrCreate() with no master, as on Glue: give it a local one.
# UTC like Glue's default session time zone, so naive timestamps round-trip unchanged.
# One short job on a small shared machine: the JVM's C1 compiler only (C2's compile threads cost
# more CPU than they win back in a one-minute run) and the serial GC; the job's cache kept
# uncompressed (it is read once or twice, right away). bench batch: job CPU 0.79x.
os.environ.setdefault(
    "PYSPARK_SUBMIT_ARGS",
    "--master local[*] --driver-memory 2g"
    " --conf spark.ui.enabled=false --conf spark.sql.session.timeZone=UTC"
    " --conf spark.sql.shuffle.partitions=4 --conf spark.ui.showConsoleProgress=false"
    " --driver-java-options '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'"
    " --conf spark.sql.inMemoryColumnarStorage.compressed=false"
    " pyspark-shell",
)
