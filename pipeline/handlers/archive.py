"""Kinesis consumer (event-source mapping): archive the raw events to S3 as gzip JSON lines.

Objects are named after the batch, not after time or a random id:
`<prefix>event_date=D/<shardId>-<first sequence number of the batch>.jsonl.gz` (one per event date
in the batch; see `pipeline.archive`). Every attempt at a batch that starts at sequence number S
writes the same keys, so a retry overwrites instead of duplicating. Cases:

  - retry of the same batch (function error, partial failure reported at S, runtime restart
    resuming from the checkpoint S): same first record, same keys, overwritten.
  - the retry holds MORE records (the stream grew before a restart): it covers every event date
    the earlier attempt had, so each earlier object is overwritten by a superset.
  - the retry holds FEWER records (bisect after a function error, a smaller batch after a
    restart): the earlier attempt may have written an object for an event date the smaller batch
    no longer has; those records come again later, in a batch with another first sequence number,
    and would be archived twice. This is what the per-batch manifest is for: before writing data
    objects an attempt records their keys in `_archive_manifests/...<shardId>-<S>.json`, and after
    writing it deletes every key the manifest lists that this attempt did not write. Any crash
    point leaves a manifest that lists at least every object that exists, so the next attempt
    starting at S cleans up.
  - a later batch never starts inside a batch that succeeded: the mapping checkpoints past it.

Poison records (not base64 / not JSON / not a valid event) are never archived: a line the Glue job
could not parse would poison the batch path too. They are reported in batchItemFailures, so after
the mapping's retries they reach the on-failure queue (its message names the shard and sequence
range; the record stays readable in the stream until retention ends). To keep good records from
being archived twice or not at all, an attempt archives only the records before the first poison
one, and reports it; an attempt that starts with a poison record archives every valid record of
the batch and reports the first one, so its retries rewrite the same keys (`plan_batch`).

An S3 error is reported at the batch's first record: the retry starts at S and overwrites.
Exactly-once here means once per Kinesis record; a producer that re-sends an event after a
timeout makes a second record with the same event_id, which the archive keeps (it is a faithful
log of the stream) and the batch load de-duplicates by event_id.
"""

from __future__ import annotations

import base64
import binascii
import os
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


def write_batch(s3: Any, bucket: str, prefix: str, shard_id: str, first_sequence: str,
                plan: ArchivePlan) -> list[str]:
    """Write the plan's objects under the batch's keys, removing what an earlier attempt left."""
    manifest = manifest_key(prefix, shard_id, first_sequence)
    previous = _read_manifest(s3, bucket, manifest)
    keys = {d: object_key(prefix, d, shard_id, first_sequence) for d in plan.objects}
    if not set(keys.values()) <= previous:  # list before writing, so a crash leaves them listed
        s3.put_object(Bucket=bucket, Key=manifest, Body=encode_manifest(previous | set(keys.values())),
                      ContentType="application/json")
    for event_date, lines in sorted(plan.objects.items()):
        s3.put_object(Bucket=bucket, Key=keys[event_date], Body=encode_lines(lines),
                      ContentType="application/gzip")
    stale = sorted(previous - set(keys.values()))
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    if stale:
        s3.put_object(Bucket=bucket, Key=manifest, Body=encode_manifest(keys.values()),
                      ContentType="application/json")
    return stale


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = os.environ.get("ARCHIVE_BUCKET")
    prefix = os.environ.get("ARCHIVE_PREFIX", "")
    if not bucket:
        raise RuntimeError("sales-archiver is misconfigured: set ARCHIVE_BUCKET")
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
        logger.error("poison record", extra={"sequence_number": poison.sequence, "shard_id": shard_id,
                                             "reason": reason})
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stale = write_batch(_s3_client(), bucket, prefix, shard_id, first_sequence, plan)
    except (BotoCoreError, ClientError):
        logger.exception("archive write failed; the batch will be retried from its first record")
        return {"batchItemFailures": [{"itemIdentifier": first_sequence}]}
    logger.info("batch archived", extra={"records": len(records), "archived": plan.archived,
                                         "objects": len(plan.objects), "stale_removed": len(stale)})
    failures = [{"itemIdentifier": plan.resume_from}] if plan.resume_from else []
    return {"batchItemFailures": failures}

