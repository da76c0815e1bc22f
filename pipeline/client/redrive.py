"""`python -m pipeline.client redrive` (`make redrive`): list the batches the Kinesis event-source
mappings gave up on, and once their cause is fixed, deliver those records to the function again.

boto3 only, so it works against the local cloud and against AWS alike:
1. `lambda:ListEventSourceMappings`: every mapping with an SQS on-failure destination (its
   function, batch size, and whether it reports batch item failures);
2. `sqs:ReceiveMessage` on each queue: the failed batches (`pipeline.client.failures`), held
   invisible while they are worked on;
3. per batch, `kinesis:GetShardIterator` AT_SEQUENCE_NUMBER its first record and `GetRecords` up to
   its last: the records, while the stream still holds them (retention: 24 h by default);
4. `lambda:Invoke` with the event the mapping would have built (`{"Records": [...]}`, the Kinesis
   record shape), in chunks of the mapping's batch size. A partial-batch response
   (`batchItemFailures`) is honoured: the records from the lowest failed one on are sent again;
5. `sqs:DeleteMessage` only after every record of the batch succeeded. A batch that cannot be
   redriven (records beyond retention, function still failing) keeps its message, made visible
   again, and the command says why.

`--dry-run` lists the batches and checks that their records can still be read, changing nothing.
Exit status: 0 when every listed batch was redriven (or, dry, could be), 1 when some were kept.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .failures import FailedBatch, depth, parse_all, queue_url, receive_all, release

PAYLOAD_LIMIT = 6 * 1024 * 1024
HOLD_S = 300
"""Seconds a message stays invisible while its batch is redriven (made visible again if kept)."""


class RedriveError(Exception):
    """The batch cannot be redriven now; its message is kept."""


@dataclass(frozen=True)
class MappingInfo:
    function: str
    function_arn: str
    queue: str
    batch_size: int
    reports_item_failures: bool
    stream_arn: str


@dataclass
class Outcome:
    batch: FailedBatch
    redriven: bool = False
    readable: int | None = None
    invocations: int = 0
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


def mappings_with_queues(lam) -> list[MappingInfo]:
    found = []
    for page in lam.get_paginator("list_event_source_mappings").paginate():
        for m in page.get("EventSourceMappings", []):
            destination = ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination", ""
            )
            if not destination.startswith("arn:aws:sqs:"):
                continue
            found.append(
                MappingInfo(
                    function=m["FunctionArn"].split(":function:", 1)[-1].split(":", 1)[0],
                    function_arn=m["FunctionArn"],
                    queue=destination.rsplit(":", 1)[-1],
                    batch_size=int(m.get("BatchSize") or 100),
                    reports_item_failures="ReportBatchItemFailures"
                    in (m.get("FunctionResponseTypes") or []),
                    stream_arn=m.get("EventSourceArn", ""),
                )
            )
    return found


def read_range(kinesis, batch: FailedBatch, page_limit: int = 10000) -> list[dict[str, Any]]:
    """The batch's records, start to end sequence number inclusive; RedriveError if the stream no
    longer holds all of them."""
    start, end = int(batch.start_sequence), int(batch.end_sequence)
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=batch.stream_name,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.start_sequence,
        )["ShardIterator"]
    except kinesis.exceptions.ResourceNotFoundException as exc:
        raise RedriveError(
            f"stream {batch.stream_name} shard {batch.shard_id} does not exist any more: {exc}"
        ) from None
    except kinesis.exceptions.InvalidArgumentException as exc:
        raise RedriveError(
            f"sequence number {batch.start_sequence} is beyond the stream's retention "
            f"(trimmed) or not in {batch.shard_id}: {exc}"
        ) from None
    records: list[dict[str, Any]] = []
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=page_limit)
        for record in page["Records"]:
            number = int(record["SequenceNumber"])
            if number > end:
                iterator = None
                break
            if number >= start:
                records.append(record)
        else:
            iterator = (
                page.get("NextShardIterator")
                if page["Records"] or page.get("MillisBehindLatest")
                else None
            )
    if not records or int(records[0]["SequenceNumber"]) != start:
        raise RedriveError(
            f"the stream no longer holds sequence number {batch.start_sequence} of {batch.shard_id}: "
            "it was trimmed after the stream's retention period; these records cannot be redriven"
        )
    if len(records) < batch.batch_size:
        raise RedriveError(
            f"only {len(records)} of the batch's {batch.batch_size} records are in the stream "
            "(trimmed after the retention period)"
        )
    if int(records[-1]["SequenceNumber"]) != end:
        raise RedriveError(
            f"the stream holds records up to {records[-1]['SequenceNumber']}, not the batch's "
            f"last sequence number {batch.end_sequence}"
        )
    return records


def kinesis_record(
    raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str
) -> dict[str, Any]:
    """One record of the event a Kinesis mapping sends (AWS Lambda developer guide, example event)."""
    arrival = raw["ApproximateArrivalTimestamp"]
    arrival = arrival.timestamp() if isinstance(arrival, datetime) else float(arrival)
    data = raw["Data"]
    data = base64.b64encode(data).decode() if isinstance(data, (bytes, bytearray)) else data
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": raw["SequenceNumber"],
            "data": data,
            "approximateArrivalTimestamp": round(arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{raw['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def chunks(records: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    """Invocation-sized pieces: at most `batch_size` records and the 6 MB payload each."""
    out: list[list[dict]] = []
    current: list[dict] = []
    size = len('{"Records":[]}')
    for record in records:
        length = len(json.dumps(record)) + 1
        if current and (len(current) >= batch_size or size + length > PAYLOAD_LIMIT):
            out.append(current)
            current, size = [], len('{"Records":[]}')
        current.append(record)
        size += length
    if current:
        out.append(current)
    return out


def invoke_until_done(
    lam,
    function: str,
    records: list[dict[str, Any]],
    *,
    item_failures: bool,
    attempts: int,
    outcome: Outcome,
    sleep=time.sleep,
) -> None:
    """Invoke with `records` until all succeed; RedriveError after `attempts` tries of a piece."""
    pending, tries = list(records), 0
    while pending:
        tries += 1
        reply = lam.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps({"Records": pending}).encode(),
        )
        outcome.invocations += 1
        body = reply["Payload"].read()
        if reply.get("FunctionError"):
            why = _error_text(body)
            if tries >= attempts:
                raise RedriveError(
                    f"{function} still fails ({why}) after {tries} attempt(s): fix the cause, then redrive again"
                )
            outcome.notes.append(f"attempt {tries}: {why}")
            sleep(min(2.0**tries * 0.5, 10.0))
            continue
        failed = _failed_from(body, pending) if item_failures else None
        if not failed:
            return
        index = next(i for i, r in enumerate(pending) if r["kinesis"]["sequenceNumber"] == failed)
        if tries >= attempts:
            raise RedriveError(
                f"{function} still reports record {failed} as failed after {tries} attempt(s)"
            )
        outcome.notes.append(
            f"attempt {tries}: {len(pending) - index} record(s) from {failed} reported failed"
        )
        pending = pending[index:]  # the records before the lowest failed one succeeded
        sleep(min(2.0**tries * 0.5, 10.0))


def _failed_from(body: bytes, pending: list[dict[str, Any]]) -> str | None:
    """The lowest failed sequence number of a partial-batch response (None: all succeeded)."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return None
    failures = doc.get("batchItemFailures") if isinstance(doc, dict) else None
    if not failures:
        return None
    order = {r["kinesis"]["sequenceNumber"]: i for i, r in enumerate(pending)}
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(
        i not in order for i in ids
    ):  # as Lambda does: an unknown identifier fails the whole batch
        return pending[0]["kinesis"]["sequenceNumber"]
    return min(ids, key=order.__getitem__)


def _error_text(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return f"{doc.get('errorType', 'Error')}: {str(doc.get('errorMessage', ''))[:200]}"
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def redrive(
    clients,
    *,
    dry_run: bool,
    queue: str | None = None,
    attempts: int = 3,
    out=print,
    sleep=time.sleep,
) -> list[Outcome]:
    """List (and unless `dry_run`, redrive) every failed batch; returns one Outcome per batch."""
    lam, sqs, kinesis, region = (
        clients["lambda"],
        clients["sqs"],
        clients["kinesis"],
        clients["region"],
    )
    mappings = [m for m in mappings_with_queues(lam) if queue in (None, m.queue)]
    if not mappings:
        raise RedriveError(
            f"no event-source mapping has {'queue ' + queue if queue else 'an SQS on-failure destination'}"
        )
    outcomes: list[Outcome] = []
    roles: dict[str, str] = {}
    for mapping in mappings:
        url = queue_url(sqs, mapping.queue)
        messages = receive_all(sqs, url, hold_s=30 if dry_run else HOLD_S, sleep=sleep)
        try:
            batches, problems = parse_all(mapping.queue, messages)
        except BaseException:
            release(sqs, url, messages)
            raise
        out(
            f"{mapping.queue}: {len(batches)} failed batch(es) of {mapping.function}"
            + (f", {len(problems)} unreadable message(s)" if problems else "")
        )
        for problem in problems:
            out(f"  kept: {problem}")
        keep = [m for m in messages if m["MessageId"] not in {b.message_id for b in batches}]
        for batch in batches:
            outcome = Outcome(batch)
            outcomes.append(outcome)
            out(
                f"  {batch.shard_id} {batch.start_sequence}..{batch.end_sequence} ({batch.batch_size} records) "
                f"{batch.reason}; failed {batch.age_s:.0f} s ago"
            )
            try:
                records = read_range(kinesis, batch)
                outcome.readable = len(records)
                if dry_run:
                    out(
                        f"    dry run: all {len(records)} records are still in the stream; would invoke "
                        f"{batch.function} with them (batch size {mapping.batch_size})"
                    )
                    continue
                if batch.function not in roles:
                    roles[batch.function] = lam.get_function_configuration(
                        FunctionName=batch.function
                    )["Role"]
                events = [
                    kinesis_record(
                        r, batch.shard_id, batch.stream_arn, region, roles[batch.function]
                    )
                    for r in records
                ]
                for piece in chunks(events, mapping.batch_size):
                    invoke_until_done(
                        lam,
                        batch.function,
                        piece,
                        item_failures=mapping.reports_item_failures,
                        attempts=attempts,
                        outcome=outcome,
                        sleep=sleep,
                    )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=batch.receipt_handle)
                outcome.redriven = True
                out(
                    f"    redriven: {len(records)} records in {outcome.invocations} invocation(s); message deleted"
                )
            except RedriveError as exc:
                outcome.problem = str(exc)
                out(f"    kept: {exc}")
            except Exception as exc:  # noqa: BLE001 - an AWS error on one batch: keep it, go on
                outcome.problem = f"{type(exc).__name__}: {exc}"
                out(f"    kept: {outcome.problem}")
            finally:
                if not outcome.redriven:
                    keep.append(next(m for m in messages if m["MessageId"] == batch.message_id))
        release(sqs, url, keep)
        held = depth(sqs, url)["in_flight"]
        if held:
            out(
                f"  note: {held} message(s) of {mapping.queue} are held by another reader (the console "
                "lists messages for a few seconds, a redrive for up to 5 min): run again to include them"
            )
    return outcomes


def aws_clients(endpoint: str | None, region: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=900)

    def make(service: str):
        return boto3.client(
            service, endpoint_url=endpoint or None, region_name=region, config=config
        )

    return {
        "lambda": make("lambda"),
        "sqs": make("sqs"),
        "kinesis": make("kinesis"),
        "region": region,
    }


def run(args) -> int:
    import os

    if args.stack in ("embedded", "compose") and not os.environ.get("AWS_ENDPOINT_URL"):
        print(
            f"error: no AWS_ENDPOINT_URL for stack {args.stack!r}: `make redrive` exports the running "
            'local cloud\'s endpoints (`make up` first), or eval "$(make -s env)"',
            file=sys.stderr,
        )
        return 2
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    clients = aws_clients(os.environ.get("AWS_ENDPOINT_URL"), region)
    try:
        outcomes = redrive(clients, dry_run=args.dry_run, queue=args.queue, attempts=args.attempts)
    except RedriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept = [o for o in outcomes if (o.problem or (not args.dry_run and not o.redriven))]
    verb = "could be redriven" if args.dry_run else "redriven"
    print(
        f"redrive: {len(outcomes) - len(kept)} of {len(outcomes)} failed batch(es) {verb}"
        + (f"; {len(kept)} kept in their queue" if kept else "")
    )
    return 1 if kept else 0
