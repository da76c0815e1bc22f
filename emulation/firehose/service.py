"""Amazon Data Firehose with a Kinesis stream source and a Redshift destination, as a runtime service.

moto records delivery streams but never reads a Kinesis source and drops Redshift-bound data, so
`FirehoseService` does the delivery itself, for each `firehoses` entry of the description:

1. reads every shard of the source stream with the mappings' reader (`emulation.kinesis`: its own
   position per shard, checkpointed in `<state>/checkpoints/firehose-<name>/<shardId>.json` only
   after the records are loaded or recorded as a failed load, so a restart loses nothing);
2. buffers records until `buffer_size_mb` or `buffer_interval_s` since the oldest buffered record,
   whichever comes first;
3. writes the S3 intermediate object (gzip, `<prefix>YYYY/MM/dd/HH/<name>-1-<time>-<uuid>.gz`) and a
   manifest naming it (`emulation.firehose.delivery`);
4. runs `COPY <table> (<columns>) FROM '<manifest>' ... MANIFEST <copy_options>` on the warehouse as
   the dedicated loader user, whose credentials it reads from Secrets Manager;
5. on a failed COPY (warehouse down, load error) retries with backoff for `retry_duration_s`
   counted from the first attempt; past it, writes a manifest of the skipped objects under
   `<errors_prefix>manifests/` and moves on. `python -m emulation.firehose.service recover --state-dir DIR
   [--name NAME]` loads them later, adding only records whose key (the first column, event_id) is
   not in the table yet, in one transaction per manifest: running it twice adds nothing.
   A delivery stream whose template breaks AWS's network rule for Redshift destinations (template
   mode, `emulation.cloudformation.constraints`) fails every COPY the same way: it cannot connect.

`GET /firehose` on the control port reports per delivery stream: records read and delivered,
objects written, COPYs, failed attempts, skipped loads, buffered records, per-shard lag and
`caught_up_at` (see MappingService: the start of the last poll round that found nothing new
while the buffer was empty).

Known gaps vs AWS: in the package docstring (`emulation.firehose`).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import threading
import time
from pathlib import Path

from emulation.kinesis.checkpoints import CheckpointStore
from emulation.kinesis.reader import KinesisReader, ShardReader

log = logging.getLogger("localcloud.firehose")

IDLE_POLL_S = 0.25
MAX_BACKOFF_S = 30.0


class Delivery(threading.Thread):
    def __init__(self, ctx, spec):
        super().__init__(name=f"firehose-{spec.name}", daemon=True)
        from .delivery import StagingWriter

        self.ctx, self.spec = ctx, spec
        self.stop_event = threading.Event()
        self.reader = KinesisReader(ctx.config.aws_endpoint, ctx.config.region, ctx.boto("kinesis"))
        self.s3 = ctx.boto("s3")
        self.bucket = ctx.names.bucket(spec.staging_bucket)
        self.writer = StagingWriter(
            self.s3, self.bucket, spec.prefix, spec.errors_prefix, spec.name
        )
        self.store = CheckpointStore(
            Path(ctx.config.state_dir) / "checkpoints", f"firehose-{spec.name}"
        )
        self.warehouse = None
        self.lock = threading.Lock()
        self.stats = {
            "records_read": 0,
            "records_delivered": 0,
            "bytes_delivered": 0,
            "objects_written": 0,
            "copies": 0,
            "copy_failures": 0,
            "skipped_loads": 0,
            "records_skipped": 0,
            "buffered_records": 0,
            "buffered_bytes": 0,
            "last_error": None,
            "caught_up_at": None,
            "shards": {},
        }

    # -- reading ---------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._deliver_forever()
            except (
                Exception
            ) as exc:  # moto restarted, stream missing, ...: start over after a pause
                log.exception("firehose %s: reading failed", self.spec.name)
                self._set(last_error=f"{type(exc).__name__}: {exc}")
                self.stop_event.wait(1.0)

    def _deliver_forever(self) -> None:
        stream = self.spec.source_stream
        identity = self.reader.identity(stream)
        shards = {}
        for shard in self.reader.shards(stream):
            sid = shard["ShardId"]
            shards[sid] = ShardReader(
                self.reader,
                self.store,
                stream,
                sid,
                "TRIM_HORIZON",
                consumer=f"firehose {self.spec.name}",
            )
            shards[sid].open(identity)
        buffer: list[bytes] = []
        buffered_bytes, oldest, oldest_arrival = 0, None, None
        pending: dict[str, str] = {}  # per shard, the last buffered record's sequence number
        limit = self.spec.buffer_size_mb * 1024 * 1024

        def flush() -> bool:
            """Deliver the buffer, then checkpoint exactly the records it held (`pending`)."""
            nonlocal buffer, buffered_bytes, oldest, oldest_arrival
            arrival = oldest_arrival if oldest_arrival is not None else time.time()  # never empty
            if not self._flush(buffer, arrival):
                return False  # stopping mid-retry: the checkpoint did not move, nothing is lost
            for sid, sequence_number in pending.items():
                shards[sid].commit(sequence_number)
            pending.clear()
            buffer, buffered_bytes, oldest, oldest_arrival = [], 0, None, None
            self._set(buffered_records=0, buffered_bytes=0)
            return True

        while not self.stop_event.is_set():
            round_started, found = time.time(), 0
            for sid, shard in shards.items():
                if shard.closed:
                    continue
                page = shard.read()
                for record in page.records:
                    data = base64.b64decode(record["Data"])
                    buffer.append(data)
                    buffered_bytes += len(data)
                    pending[sid] = record["SequenceNumber"]
                    if oldest is None:
                        oldest = time.monotonic()
                        oldest_arrival = float(
                            record.get("ApproximateArrivalTimestamp") or time.time()
                        )
                    # The size hint is met mid-page (a page holds up to 10,000 records): deliver
                    # now, so no object holds more than the hint plus one record.
                    if buffered_bytes >= limit and not flush():
                        return
                found += len(page.records)
                self._shard_stat(
                    sid, page.millis_behind_latest, pending.get(sid) or shard.checkpoint
                )
            self._set(
                records_read=self.stats["records_read"] + found,
                buffered_records=len(buffer),
                buffered_bytes=buffered_bytes,
            )
            due = oldest is not None and time.monotonic() - oldest >= self.spec.buffer_interval_s
            if buffer and due and not flush():
                return
            if not found and not buffer:
                self._set(caught_up_at=round_started)
            if not found:
                self.stop_event.wait(IDLE_POLL_S)

    # -- delivering ------------------------------------------------------------------------
    def _flush(self, records: list[bytes], oldest_arrival: float) -> bool:
        """Stage and COPY one buffer; True once it is loaded or recorded as a skipped load."""
        data_url, manifest_url = self.writer.write_batch(records, oldest_arrival)
        self._set(objects_written=self.stats["objects_written"] + 1)
        copy = (
            f"COPY {self.spec.table} ({', '.join(self.spec.columns)}) FROM '{manifest_url}' "
            f"IAM_ROLE '{self.ctx.names.role_arn('firehose-' + self.spec.name)}' MANIFEST "
            f"{self.spec.copy_options}"
        )
        started, backoff = time.monotonic(), 1.0
        unreachable = getattr(self.spec, "unreachable", None)  # template mode: AWS's network rule
        while True:
            try:
                if unreachable:
                    raise ConnectionError(f"cannot connect to the warehouse: {unreachable}")
                result = self._warehouse().execute(copy, label=f"firehose:{self.spec.name}")
                size = sum(len(r) for r in records)
                self._set(
                    copies=self.stats["copies"] + 1,
                    records_delivered=self.stats["records_delivered"] + result.rows,
                    bytes_delivered=self.stats["bytes_delivered"] + size,
                    last_error=None,
                )
                return True
            except Exception as exc:  # noqa: BLE001 - any failed COPY is retried, then error-manifested, as on AWS
                self._drop_warehouse()
                self._set(
                    copy_failures=self.stats["copy_failures"] + 1,
                    last_error=f"{type(exc).__name__}: {exc}",
                )
                elapsed = time.monotonic() - started
                if elapsed + backoff > self.spec.retry_duration_s:
                    error_url = self.writer.write_error_manifest(manifest_url, [data_url])
                    log.error(
                        "firehose %s: COPY failed for %.0f s, skipped; recover it from %s",
                        self.spec.name,
                        elapsed,
                        error_url,
                    )
                    self._set(
                        skipped_loads=self.stats["skipped_loads"] + 1,
                        records_skipped=self.stats["records_skipped"] + len(records),
                    )
                    return True
                log.warning(
                    "firehose %s: COPY failed (%s); retrying in %.0f s",
                    self.spec.name,
                    exc,
                    backoff,
                )
                if self.stop_event.wait(backoff):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _warehouse(self):
        if self.warehouse is None or self.warehouse.closed:
            from emulation.redshift.connection import connect, dsn_from_secret

            secret = json.loads(
                self.ctx.boto("secretsmanager").get_secret_value(SecretId=self.spec.loader_secret)[
                    "SecretString"
                ]
            )
            self.warehouse = connect(
                dsn_from_secret(secret),
                aws_endpoint=self.ctx.config.aws_endpoint,
                region=self.ctx.config.region,
                s3_client=self.s3,
            )
        return self.warehouse

    def _drop_warehouse(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None

    # -- status ----------------------------------------------------------------------------
    def _set(self, **values) -> None:
        with self.lock:
            self.stats.update(values)

    def _shard_stat(self, sid: str, behind_ms: int, sequence: str | None) -> None:
        with self.lock:
            self.stats["shards"][sid] = {"millis_behind_latest": behind_ms, "read_up_to": sequence}

    def status(self) -> dict:
        with self.lock:
            return {
                "name": self.spec.name,
                "source_stream": self.spec.source_stream,
                "table": self.spec.table,
                "bucket": self.bucket,
                **json.loads(json.dumps(self.stats)),
            }

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self._drop_warehouse()


class FirehoseService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.deliveries = [Delivery(ctx, spec) for spec in ctx.resources.firehoses]
        ctx.control.register("GET", r"/firehose", self._status)

    def _status(self, _params, _headers, _body):
        return 200, {}, {"deliveries": [d.status() for d in self.deliveries]}

    def start(self) -> None:
        for delivery in self.deliveries:
            delivery.start()

    def stop(self) -> None:
        for delivery in self.deliveries:
            delivery.stop()


# -- recover: load skipped deliveries ---------------------------------------------------------
def recover(config, resources, name: str | None = None, out=print) -> dict:
    """Load every error manifest of the delivery stream(s); returns counts per delivery."""
    import boto3

    from emulation.config import CloudConfig  # noqa: F401  (config is a CloudConfig)
    from emulation.naming import LocalNames
    from emulation.redshift.connection import connect, dsn_from_secret
    from emulation.redshift.copy_options import parse_copy

    from .delivery import StagingWriter

    names = LocalNames(resources, config.region)
    specs = [resources.firehose(name)] if name else list(resources.firehoses)
    session = dict(
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3, secrets = boto3.client("s3", **session), boto3.client("secretsmanager", **session)
    admin = json.loads(
        secrets.get_secret_value(SecretId=resources.warehouse.admin_secret)["SecretString"]
    )
    totals = {}
    with connect(
        dsn_from_secret(admin), aws_endpoint=config.aws_endpoint, region=config.region, s3_client=s3
    ) as rs:
        for spec in specs:
            writer = StagingWriter(
                s3, names.bucket(spec.staging_bucket), spec.prefix, spec.errors_prefix, spec.name
            )
            key_column, cols = spec.columns[0], ", ".join(spec.columns)
            loaded = skipped = done = 0
            for key in writer.error_manifests():
                url = f"s3://{writer.bucket}/{key}"
                parse_copy(
                    f"COPY t FROM '{url}' MANIFEST {spec.copy_options}"
                )  # refuse bad options early
                with rs.transaction():
                    rs.execute(
                        f"CREATE TEMP TABLE firehose_recover (LIKE {spec.table} INCLUDING DEFAULTS)",
                        label="firehose-recover",
                    )
                    copied = rs.execute(
                        f"COPY firehose_recover ({cols}) FROM '{url}' IAM_ROLE "
                        f"'{names.role_arn('firehose-' + spec.name)}' MANIFEST {spec.copy_options}",
                        label="firehose-recover",
                    ).rows
                    inserted = rs.execute(
                        f"INSERT INTO {spec.table} ({cols}) SELECT DISTINCT {cols} FROM firehose_recover r "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {spec.table} t WHERE t.{key_column} = r.{key_column})",
                        label="firehose-recover",
                    ).rows
                    rs.execute("DROP TABLE firehose_recover", label="firehose-recover")
                writer.mark_recovered(key)
                loaded, skipped, done = loaded + inserted, skipped + copied - inserted, done + 1
                out(
                    f"{spec.name}: {url}: {inserted} record(s) loaded, {copied - inserted} already present"
                )
            totals[spec.name] = {"manifests": done, "loaded": loaded, "already_present": skipped}
            out(
                f"{spec.name}: {done} skipped load(s) recovered, {loaded} record(s) loaded, "
                f"{skipped} already present"
            )
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulation.firehose.service",
        description="Firehose delivery tools for the local cloud.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser(
        "recover", help="load the deliveries Firehose skipped (error manifests) into the warehouse"
    )
    rec.add_argument("--state-dir", type=Path, default=None, help="the local cloud's state folder")
    rec.add_argument("--name", help="one delivery stream (default: all of the description)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from emulation.config import CloudConfig, load_resources

    try:
        config = CloudConfig.load(args.state_dir)
        resources = load_resources(config.resources)
        if args.name:
            resources.firehose(args.name)
        recover(config, resources, args.name)
    except (FileNotFoundError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
