"""Records every batch it receives (one DynamoDB item per invocation) so tests can read back
exactly what the event-source mapping delivered, in which batches, in which order."""

import base64
import json
import os
import time

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])


def record(event, context, **extra):
    records = event["Records"]
    TABLE.put_item(
        Item={
            "request_id": context.aws_request_id,
            "function": context.function_name,
            "shard": records[0]["eventID"].split(":")[0] if records else "",
            "seqs": [r["kinesis"]["sequenceNumber"] for r in records],
            "data": [base64.b64decode(r["kinesis"]["data"]).decode() for r in records],
            "count": len(records),
            "pid": os.getpid(),
            "at": str(time.time()),
            **extra,
        }
    )


def handler(event, context):
    record(event, context)


def raw_handler(event, context):
    record(event, context, raw=json.dumps(event))
    return {}
