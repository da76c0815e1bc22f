"""Register the archive's new Hive partitions (`.../event_date=YYYY-MM-DD/`) in the Data Catalog.

A Glue job reading a partitioned catalog table sees only registered partitions. On AWS a crawler
or `MSCK REPAIR TABLE` does this; this function is the same step with two API calls
(ListObjectsV2 + BatchCreatePartition), usable on AWS and on the local cloud alike. The clients
are passed in (boto3 `s3` and `glue`), so this module imports no AWS SDK.
"""

from __future__ import annotations

import copy
import re

_BATCH = 100  # BatchCreatePartition takes at most 100 partitions per call


def discover_partitions(s3, location: str, keys: list[str]) -> list[list[str]]:
    """Partition values found under `location` (s3://bucket/prefix/), for a single key."""
    if len(keys) != 1:
        raise ValueError(f"only single-key partitioning is discovered, table has {keys}")
    bucket, _, prefix = location[5:].partition("/")
    pattern = re.compile(re.escape(keys[0]) + r"=([^/]+)/$")
    values = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    ):
        for common in page.get("CommonPrefixes", []):
            match = pattern.search(common["Prefix"])
            if match:
                values.append([match.group(1)])
    return values


def register_new_partitions(glue, s3, database: str, table_name: str) -> list[list[str]]:
    """Create the partitions present in S3 and missing from the catalog; returns the new ones."""
    table = glue.get_table(DatabaseName=database, Name=table_name)["Table"]
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    if not keys:
        return []
    location = table["StorageDescriptor"]["Location"].rstrip("/") + "/"
    known: set[tuple[str, ...]] = set()
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table_name
    ):
        known.update(tuple(p["Values"]) for p in page["Partitions"])
    new = [v for v in discover_partitions(s3, location, keys) if tuple(v) not in known]
    for start in range(0, len(new), _BATCH):
        inputs = []
        for values in new[start : start + _BATCH]:
            sd = copy.deepcopy(table["StorageDescriptor"])
            sd["Location"] = location + "/".join(f"{k}={v}" for k, v in zip(keys, values)) + "/"
            inputs.append({"Values": values, "StorageDescriptor": sd})
        result = glue.batch_create_partition(
            DatabaseName=database, TableName=table_name, PartitionInputList=inputs
        )
        failed = [
            e
            for e in result.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"
        ]
        if failed:
            raise RuntimeError(f"BatchCreatePartition failed for {database}.{table_name}: {failed}")
    return new
