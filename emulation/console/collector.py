"""One snapshot of every stage of the pipeline, as the console page draws it.

Figures and where they come from (each one a user could ask for themselves):

    API          requests, events accepted/rejected by reason, throttles, latency    GET /api/metrics (runtime)
    Kinesis      records per shard                                                   GET /_localcloud/kinesis/shards (moto)
    consumers    per shard: checkpoint, iterator age, records behind                 GET /mappings, GET /firehose
    functions    invocations, errors, duration p50/p99, workers                      GET /functions
    queues       depth, and each failed batch (shard, sequence range, reason)        SQS GetQueueAttributes, ReceiveMessage
    DynamoDB     items per table                                                     DescribeTable
    S3 archive   objects, lines, distinct events                                     ListObjectsV2 + GetObject (each object once)
    Firehose     buffered records/bytes, deliveries, failed COPYs, error manifests   GET /firehose, ListObjectsV2
    warehouse    rows per table, quarantine rows, load errors                        SQL (superuser DSN)
    Glue         runs: state, duration, rows read/loaded/quarantined                 GET /glue/jobs/{job}/runs + the run's log
    e2e          the last `make e2e` reconciliation with its timings                 .e2e/reconciliation.json

Records behind = the shard's last sequence number minus the consumer's checkpoint: moto numbers a
shard's records 1, 2, 3, ... (on AWS, sequence numbers are sparse and only the iterator age exists).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from emulation.config import REPO_ROOT
from emulation.moto.introspect import SHARDS_PATH

from .sources import ArchiveCounter, Every, warehouse_counts

log = logging.getLogger("localcloud.console")

E2E_REPORT_ENV = "LOCALCLOUD_E2E_REPORT"
"""Where the last `make e2e` wrote its reconciliation (default `<repo>/.e2e/reconciliation.json`)."""
_GLUE_ROWS = re.compile(
    r"batch: (\d+) lines read, (\d+) unreadable, (\d+) sales to load, (\d+) quarantined"
)


class Collector:
    def __init__(self, ctx):
        self.ctx = ctx
        resources = ctx.resources
        self.stream = resources.streams[0].name if resources.streams else None
        self.tables = [t.name for t in resources.tables]
        self.queues = [
            m.on_failure_queue for m in resources.event_source_mappings if m.on_failure_queue
        ]
        self.e2e_path = Path(
            os.environ.get(E2E_REPORT_ENV) or REPO_ROOT / ".e2e" / "reconciliation.json"
        )
        self._archive: ArchiveCounter | None = None
        self._warehouse = None
        self._queue_urls: dict[str, str] = {}
        self._e2e: tuple[float, Any] = (0.0, None)
        svc = ctx.services

        # Change tokens: a slow read reruns only when what it reads from may have changed.
        def firehose() -> tuple:
            if "firehose" not in svc:
                return ()
            return tuple(
                (d.stats["copies"], d.stats["skipped_loads"]) for d in svc["firehose"].deliveries
            )

        def archiver() -> tuple:
            if "mappings" not in svc:
                return ()
            return tuple(m.status()["records_succeeded"] for m in svc["mappings"].mappings)

        def glue() -> tuple:
            if "glue" not in svc:
                return ()
            return tuple(
                (r.Id, r.JobRunState)
                for j in resources.glue_jobs
                for r in svc["glue"].runner.list_runs(j.name)
            )

        def backlog() -> bool:
            return self._archive is not None and not self._archive.complete

        self.reads = {  # in the order they refresh: the quick ones first
            "dynamodb": Every(self._dynamodb, 2.0),
            "queues": Every(self._queue_depths, 2.0),
            "warehouse": Every(self._warehouse_figures, 60.0, lambda: (firehose(), glue()), 5.0),
            "error_manifests": Every(self._error_manifests, 60.0, firehose, 5.0),
            # new archive objects come with the archiver's invocations; a backlog is read in steps
            "archive": Every(
                self._archive_figures, 30.0, lambda: (archiver(), backlog() and time.time()), 3.0
            ),
        }
        self._messages = Every(self._queue_messages, 15.0, lambda: self.reads["queues"].value, 2.0)

    # -- the snapshot ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        started = time.perf_counter()
        svc = self.ctx.services
        doc: dict[str, Any] = {"at": time.time(), "stream": self.stream, "errors": {}}
        doc["api"] = (
            svc["api"].gateway.metrics.snapshot() if "api" in svc and svc["api"].gateway else None
        )
        doc["functions"] = _functions(svc["lambda"].status()) if "lambda" in svc else {}
        shards = self._shards(doc)
        doc["kinesis"] = {
            "stream": self.stream,
            "shards": shards,
            "records": sum(s["records"] for s in shards.values()),
        }
        doc["consumers"] = self._consumers(shards)
        for name, read in self.reads.items():
            doc[name] = read.value  # refreshed by `refresh_slow`, in its own thread
            if read.error:
                doc["errors"][name] = read.error
        doc["queues"] = self._with_messages(doc["queues"], doc)
        doc["firehose"] = (
            [d.status() for d in svc["firehose"].deliveries] if "firehose" in svc else []
        )
        doc["glue"] = self._glue_runs()
        doc["e2e"] = self._e2e_report()
        doc["collect_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return doc

    def refresh_slow(self) -> None:
        """Run the reads that cost something, each when due (`Every`): called in a loop apart
        from `snapshot`, so a slow read (a backlog of archive objects) never delays the page."""
        for read in self.reads.values():
            read.get()
        self._messages.get()

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None

    # -- in-process and O(1) figures ---------------------------------------------------------------
    def _shards(self, doc) -> dict[str, dict[str, Any]]:
        url = f"{self.ctx.config.aws_endpoint}{SHARDS_PATH}?region={self.ctx.config.region}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                streams = json.loads(resp.read())["streams"]
        except Exception as exc:  # noqa: BLE001 - moto restarting or not our moto (compose)
            doc["errors"]["kinesis"] = f"{type(exc).__name__}: {exc}"[:300]
            return {}
        return streams.get(self.stream, {})

    def _consumers(self, shards) -> list[dict[str, Any]]:
        svc, out = self.ctx.services, []
        for mapping in svc["mappings"].status() if "mappings" in svc else []:
            per_shard = {
                sid: {
                    "checkpoint": s["checkpoint"],
                    "iterator_age_ms": s["millis_behind_latest"],
                    "records_behind": _behind(shards.get(sid), s["checkpoint"]),
                    "in_flight": s["in_flight"],
                    "buffered": s["buffered"],
                    "last_error": s["last_error"],
                }
                for sid, s in mapping["shards"].items()
            }
            out.append(
                {
                    "kind": "mapping",
                    "name": mapping["function"],
                    "function": mapping["function"],
                    "stream": mapping["stream"],
                    "records_succeeded": mapping["records_succeeded"],
                    "records_discarded": mapping["records_discarded"],
                    "invocations": mapping["invocations"],
                    "function_errors": mapping["function_errors"],
                    "shards": per_shard,
                    **_totals(per_shard),
                }
            )
        for delivery in svc["firehose"].deliveries if "firehose" in svc else []:
            status = delivery.status()
            per_shard = {
                sid: {
                    "checkpoint": s["read_up_to"],
                    "iterator_age_ms": s["millis_behind_latest"],
                    "records_behind": _behind(shards.get(sid), s["read_up_to"]),
                }
                for sid, s in status["shards"].items()
            }
            out.append(
                {
                    "kind": "firehose",
                    "name": status["name"],
                    "stream": status["source_stream"],
                    "records_succeeded": status["records_delivered"],
                    "shards": per_shard,
                    **_totals(per_shard),
                }
            )
        return out

    def _glue_runs(self) -> list[dict[str, Any]]:
        svc = self.ctx.services
        if "glue" not in svc:
            return []
        runs = []
        for job in self.ctx.resources.glue_jobs:
            for run in svc["glue"].runner.list_runs(job.name)[:10]:
                end = run.CompletedOn or time.time()
                doc = {
                    "job": job.name,
                    "id": run.Id,
                    "state": run.JobRunState,
                    "started": run.StartedOn,
                    "duration_s": round(end - run.StartedOn, 1),
                    "error": run.ErrorMessage,
                }
                doc.update(_glue_rows(run.LogFile))
                runs.append(doc)
        return runs

    def _e2e_report(self) -> Any:
        try:
            mtime = self.e2e_path.stat().st_mtime
        except OSError:
            return None
        if mtime != self._e2e[0]:
            try:
                self._e2e = (
                    mtime,
                    {
                        **json.loads(self.e2e_path.read_text()),
                        "path": str(self.e2e_path),
                        "written": mtime,
                    },
                )
            except ValueError:
                return None  # being written: the next snapshot reads it
        return self._e2e[1]

    # -- cached reads ------------------------------------------------------------------------------
    def _dynamodb(self) -> dict[str, int]:
        client = self.ctx.boto("dynamodb")
        return {t: client.describe_table(TableName=t)["Table"]["ItemCount"] for t in self.tables}

    def _queue_url(self, queue: str) -> str:
        if queue not in self._queue_urls:
            self._queue_urls[queue] = self.ctx.boto("sqs").get_queue_url(QueueName=queue)[
                "QueueUrl"
            ]
        return self._queue_urls[queue]

    def _queue_depths(self) -> dict[str, dict[str, int]]:
        from pipeline.client.failures import depth

        return {q: depth(self.ctx.boto("sqs"), self._queue_url(q)) for q in self.queues}

    def _queue_messages(self) -> dict[str, Any]:
        from pipeline.client.failures import peek

        listed: dict[str, Any] = {}
        for queue, counts in (self.reads["queues"].value or {}).items():
            if counts["visible"] + counts["in_flight"] == 0:
                listed[queue] = {"batches": [], "problems": []}
                continue
            batches, problems = peek(self.ctx.boto("sqs"), queue, self._queue_url(queue))
            listed[queue] = {"batches": [b.as_json() for b in batches], "problems": problems}
        return listed

    def _with_messages(self, depths, doc) -> list[dict[str, Any]]:
        if depths is None:
            return []
        listed = self._messages.value or {}
        if self._messages.error:
            doc["errors"]["queue messages"] = self._messages.error
        function_of = {
            m.on_failure_queue: m.function for m in self.ctx.resources.event_source_mappings
        }
        return [
            {
                "name": q,
                "function": function_of.get(q),
                **counts,
                **listed.get(q, {"batches": [], "problems": []}),
            }
            for q, counts in depths.items()
        ]

    def _archive_figures(self) -> dict[str, Any]:
        if self._archive is None:
            env = next(
                self.ctx.names.environment(f.name)
                for f in self.ctx.resources.functions
                if "ARCHIVE_BUCKET" in f.environment
            )
            self._archive = ArchiveCounter(
                self.ctx.boto("s3"), env["ARCHIVE_BUCKET"], env["ARCHIVE_PREFIX"]
            )
        return {"bucket": self._archive.bucket, **self._archive.refresh(max_objects=50)}

    def _warehouse_figures(self) -> dict[str, Any]:
        import psycopg

        from emulation.redshift.server import superuser_dsn

        if self._warehouse is None or self._warehouse.closed:
            self._warehouse = psycopg.connect(
                superuser_dsn(self.ctx.config), autocommit=True, connect_timeout=5
            )
        try:
            return warehouse_counts(self._warehouse)
        except psycopg.OperationalError:
            self.close()  # the warehouse restarted: reconnect next time
            raise

    def _error_manifests(self) -> list[dict[str, Any]]:
        s3, out = self.ctx.boto("s3"), []
        for spec in self.ctx.resources.firehoses:
            bucket = self.ctx.names.bucket(spec.staging_bucket)
            page = s3.list_objects_v2(
                Bucket=bucket, Prefix=f"{spec.errors_prefix}manifests/", MaxKeys=50
            )
            out += [
                {"delivery": spec.name, "url": f"s3://{bucket}/{o['Key']}"}
                for o in page.get("Contents", [])
            ]
        return out


def _functions(status: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "invocations": f["invocations"],
            "errors": f["errors"],
            "workers": len(f["workers"]),
            "busy": f["busy"],
            "limit": f["limit"],
            "cold_starts": f["cold_starts"],
            "p50_ms": f["duration"]["p50_ms"],
            "p99_ms": f["duration"]["p99_ms"],
        }
        for name, f in status.items()
    }


def _behind(shard: dict[str, Any] | None, checkpoint: str | None) -> int | None:
    if shard is None:
        return None
    if not shard["records"]:
        return 0
    done = int(checkpoint) if checkpoint and checkpoint.isdigit() else shard["first_sequence"] - 1
    return max(0, shard["last_sequence"] - done)


def _totals(per_shard: dict[str, dict[str, Any]]) -> dict[str, Any]:
    behind = [s["records_behind"] for s in per_shard.values() if s["records_behind"] is not None]
    ages = [s["iterator_age_ms"] or 0 for s in per_shard.values()]
    return {
        "records_behind": sum(behind) if behind else None,
        "iterator_age_ms": max(ages) if ages else 0,
    }


def _glue_rows(log_file: str) -> dict[str, int | None]:
    """Rows read/loaded/quarantined from the job's own summary line (its CloudWatch output on AWS)."""
    try:
        with open(log_file, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 262144))
            found = _GLUE_ROWS.findall(f.read().decode("utf-8", "replace"))
    except OSError:
        found = []
    if not found:
        return {
            "rows_read": None,
            "rows_unreadable": None,
            "rows_loaded": None,
            "rows_quarantined": None,
        }
    read, unreadable, loaded, quarantined = map(int, found[-1])
    return {
        "rows_read": read + unreadable,
        "rows_unreadable": unreadable,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
    }
