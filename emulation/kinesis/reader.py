"""Reading a Kinesis shard where a consumer left it: the one reader of the event-source mappings
and Firehose.

`ShardReader` is one consumer's position in one shard: opened after its checkpoint (else at its
starting position), read page by page in order, committed by sequence number to the consumer's
`CheckpointStore`. `KinesisReader` makes the calls: boto3 for the control calls, and a plain signed
HTTP request for `GetRecords`.

Why not boto3 for GetRecords: botocore parses every record of the response into Python objects
(a datetime per timestamp, bytes per Data field), about 100 µs per record; the poller only needs
the base64 text and the epoch arrival time, which the JSON wire format already holds. The request
is still signed with SigV4 (the compose target's LocalStack reads region and account from it).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .checkpoints import CheckpointStore, ShardCheckpoint, StreamIdentity

log = logging.getLogger("localcloud.kinesis")

MAX_GET_RECORDS = 10_000  # GetRecords' maximum Limit


class KinesisCallError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Page:
    records: list[dict[str, Any]]
    """Wire-format records: SequenceNumber, PartitionKey, Data (base64), ApproximateArrivalTimestamp."""
    next_iterator: str | None
    millis_behind_latest: int


class KinesisReader:
    def __init__(self, endpoint: str, region: str, client):
        self.client = client
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        if not parts.hostname:
            raise ValueError(f"no host in the Kinesis endpoint {endpoint!r}")
        self._host, self._port = parts.hostname, parts.port or 80
        self._signer = SigV4Auth(Credentials("testing", "testing"), "kinesis", region)
        self._local = threading.local()

    def get_records(self, iterator: str, limit: int = MAX_GET_RECORDS) -> Page:
        body = json.dumps({"ShardIterator": iterator, "Limit": limit})
        request = AWSRequest(
            method="POST",
            url=self.endpoint + "/",
            data=body,
            headers={
                "X-Amz-Target": "Kinesis_20131202.GetRecords",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        self._signer.add_auth(request)
        conn = self._connection()
        try:
            conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        if response.status != 200:
            try:
                err = json.loads(data)
            except ValueError:
                err = {}
            code = str(err.get("__type", f"HTTP{response.status}")).rsplit("#", 1)[-1]
            raise KinesisCallError(
                code,
                err.get("message") or err.get("Message") or data[:200].decode(errors="replace"),
            )
        page = json.loads(data)
        return Page(
            page.get("Records", []),
            page.get("NextShardIterator"),
            int(page.get("MillisBehindLatest") or 0),
        )

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
            self._local.conn = conn
        return conn

    # -- control calls through boto3 ------------------------------------------------------------
    def identity(self, stream: str) -> StreamIdentity:
        summary = self.client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        return StreamIdentity(summary["StreamARN"], summary["StreamCreationTimestamp"].timestamp())

    def shards(self, stream: str) -> list[dict[str, Any]]:
        shards, token = [], None
        while True:
            page = (
                self.client.list_shards(NextToken=token)
                if token
                else self.client.list_shards(StreamName=stream)
            )
            shards.extend(page["Shards"])
            token = page.get("NextToken")
            if not token:
                return shards

    def iterator(
        self,
        stream: str,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        args: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if sequence_number is not None:
            args["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            args["Timestamp"] = timestamp
        return self.client.get_shard_iterator(**args)["ShardIterator"]


class ShardReader:
    """One consumer's position in one shard of a stream.

    `open(identity)` starts after the consumer's checkpoint; without one (or with one of an older
    stream of the same name, which is forgotten) at `starting_position`: TRIM_HORIZON, or LATEST,
    whose start time is kept so a restart does not skip what was written meanwhile. `read()` returns
    the next page (records in order) and advances; `commit(sequence_number)` records that the
    consumer is done with every record up to it. One thread reads a shard at a time.
    """

    def __init__(
        self,
        reader: KinesisReader,
        store: CheckpointStore,
        stream: str,
        shard_id: str,
        starting_position: str = "TRIM_HORIZON",
        consumer: str = "",
    ):
        self.reader, self.store = reader, store
        self.stream, self.shard_id = stream, shard_id
        self.starting_position = starting_position
        self.consumer = consumer or store.dir.name
        self.identity: StreamIdentity | None = None
        self.iterator: str | None = None
        self.checkpoint: str | None = None
        """The last committed sequence number (None before the first commit)."""

    def open(self, identity: StreamIdentity) -> str:
        """Position the reader for `identity`'s stream; returns the first shard iterator."""
        self.identity = identity
        cp = self.store.load(self.shard_id)
        if cp is not None and not cp.belongs_to(identity):
            log.warning(
                "%s: stream %s was recreated; shard %s starts over from %s",
                self.consumer,
                self.stream,
                self.shard_id,
                self.starting_position,
            )
            self.store.forget(self.shard_id)
            cp = None
        self.checkpoint = cp.sequence_number if cp else None
        if cp is not None and cp.sequence_number is not None:
            self.iterator = self.reader.iterator(
                self.stream,
                self.shard_id,
                "AFTER_SEQUENCE_NUMBER",
                sequence_number=cp.sequence_number,
            )
        elif cp is not None and cp.latest_from is not None:
            self.iterator = self.reader.iterator(
                self.stream, self.shard_id, "AT_TIMESTAMP", timestamp=cp.latest_from
            )
        elif self.starting_position == "TRIM_HORIZON":
            self.store.save(self.shard_id, ShardCheckpoint(identity.arn, identity.created))
            self.iterator = self.reader.iterator(self.stream, self.shard_id, "TRIM_HORIZON")
        else:
            self.store.save(
                self.shard_id,
                ShardCheckpoint(identity.arn, identity.created, latest_from=time.time()),
            )
            self.iterator = self.reader.iterator(self.stream, self.shard_id, "LATEST")
        return self.iterator

    @property
    def closed(self) -> bool:
        """The shard is closed (resharded) and read to its end."""
        return self.iterator is None

    def read(self, limit: int = MAX_GET_RECORDS) -> Page:
        if self.iterator is None:
            raise RuntimeError(f"shard {self.shard_id}: closed, or read before open()")
        page = self.reader.get_records(self.iterator, limit)
        self.iterator = page.next_iterator
        return page

    def commit(self, sequence_number: str) -> None:
        identity = self.identity
        if identity is None:
            raise RuntimeError(f"shard {self.shard_id}: commit before open()")
        self.store.save(
            self.shard_id, ShardCheckpoint(identity.arn, identity.created, sequence_number)
        )
        self.checkpoint = sequence_number
