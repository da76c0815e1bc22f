"""Kinesis consumer (event-source mapping): archive the raw events to S3 as gzip JSON lines.

Objects are named after the batch (`<prefix>event_date=D/<shardId>-<first sequence number>.jsonl.gz`,
see `pipeline.archive`), so a retry overwrites instead of duplicating; a per-batch manifest cleans
up after a smaller retry, and poison records are reported, never archived. Every retry case, and
why each leaves every record archived exactly once: docs/tables.md, "The raw archive (S3)".
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger

from pipeline.archive import (
    ArchivePlan,
    decode_manifest,
    encode_lines,
    encode_manifest,
    manifest_key,
    object_key,
    plan_batch,
)
from pipeline.handlers import clients
from pipeline.handlers.settings import ArchiverSettings

logger = Logger(service="sales-archiver")


def use_s3_client(client: Any) -> None:
    """Inject the s3 client (tests, or callers with their own session)."""
    clients.use("s3", client)


def _s3_client() -> Any:
    return clients.client("s3")


def _record_data(record: dict[str, Any]) -> bytes | None:
    try:
        return base64.b64decode(record["kinesis"]["data"], validate=True)
    except (binascii.Error, TypeError):
        return None


def _read_manifest(s3: Any, bucket: str, key: str) -> set[str]:
    from botocore.exceptions import ClientError

    try:
        return decode_manifest(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        # Without s3:ListBucket (object-level grants only), S3 answers a missing key with 403.
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "AccessDenied", "403"):
            return set()
        raise


def write_batch(
    s3: Any, bucket: str, prefix: str, shard_id: str, first_sequence: str, plan: ArchivePlan
) -> list[str]:
    """Write the plan's objects under the batch's keys, removing what an earlier attempt left."""
    manifest = manifest_key(prefix, shard_id, first_sequence)
    previous = _read_manifest(s3, bucket, manifest)
    keys = {d: object_key(prefix, d, shard_id, first_sequence) for d in plan.objects}
    if not set(keys.values()) <= previous:  # list before writing, so a crash leaves them listed
        s3.put_object(
            Bucket=bucket,
            Key=manifest,
            Body=encode_manifest(previous | set(keys.values())),
            ContentType="application/json",
        )
    for event_date, lines in sorted(plan.objects.items()):
        s3.put_object(
            Bucket=bucket,
            Key=keys[event_date],
            Body=encode_lines(lines),
            ContentType="application/gzip",
        )
    stale = sorted(previous - set(keys.values()))
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    if stale:
        s3.put_object(
            Bucket=bucket,
            Key=manifest,
            Body=encode_manifest(keys.values()),
            ContentType="application/json",
        )
    return stale


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Misconfigured (a deployment error) fails the whole batch: nothing is skipped while it is fixed.
    settings = ArchiverSettings.from_environment()
    bucket, prefix = settings.archive_bucket, settings.archive_prefix
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    first_sequence = records[0]["kinesis"]["sequenceNumber"]
    shard_id = records[0]["eventID"].rsplit(":", 1)[0]
    decoded, undecodable = [], []
    for record in records:
        data = _record_data(record)
        sequence = record["kinesis"]["sequenceNumber"]
        # Not base64: stands in as an empty line so plan_batch treats it as the poison it is.
        decoded.append((sequence, data if data is not None else b""))
        if data is None:
            undecodable.append(sequence)
    plan = plan_batch(decoded)
    for poison in plan.poison:
        reason = "record data is not base64" if poison.sequence in undecodable else poison.reason
        logger.error(
            "poison record",
            extra={"sequence_number": poison.sequence, "shard_id": shard_id, "reason": reason},
        )
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stale = write_batch(_s3_client(), bucket, prefix, shard_id, first_sequence, plan)
    except (BotoCoreError, ClientError):
        logger.exception("archive write failed; the batch will be retried from its first record")
        return {"batchItemFailures": [{"itemIdentifier": first_sequence}]}
    logger.info(
        "batch archived",
        extra={
            "records": len(records),
            "archived": plan.archived,
            "objects": len(plan.objects),
            "stale_removed": len(stale),
        },
    )
    failures = [{"itemIdentifier": plan.resume_from}] if plan.resume_from else []
    return {"batchItemFailures": failures}
