"""Benchmark the batch path: the Glue job over the whole archive, S3 -> warehouse, on local Spark.

`python -m bench batch --data PATH [--rows N] [--lines-per-object 2000]`

1. Setup (not timed): read the dataset, write it to the archive as the archiver does (gzip JSON
   lines, `event_date=` partitions, N lines per object) in a private local cloud (moto + PostgreSQL
   + the runtime's glue service, free ports, temporary state).
2. The job: StartJobRun -> SUCCEEDED, wall time from StartJobRun to the final state, split into
   Spark start, catalog (registering the new partitions), read, transform and load from the job's
   own `timings:` log line; and the CPU seconds the whole cloud used meanwhile (the figure to
   compare across runs on a shared machine).
3. Baseline, in the same run: one Python process doing the same work without Spark (boto3 get
   + gunzip + json + typed parse + dedupe by event_id + psycopg COPY into a scratch table).
4. Both results must agree (row count and revenue to the cent) or the benchmark fails.

Target: the job under 60 s on 2 cores for the full dataset (541,909 lines).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

JOB = "sales-batch-load"


def build_archive(data: Path, rows: int | None, per_object: int) -> dict[str, list[bytes]]:
    """{object key suffix: gzip body}, grouped by event_date like the archiver's objects."""
    from pipeline.source import SourceFile, read_events

    by_date: dict[str, list[bytes]] = defaultdict(list)
    for ev in read_events(SourceFile.open(data), limit=rows):
        by_date[ev.event_date].append(ev.to_record_bytes())
    objects = {}
    for date, lines in sorted(by_date.items()):
        for n, start in enumerate(range(0, len(lines), per_object)):
            objects[f"event_date={date}/part-{n:05d}.json.gz"] = gzip.compress(
                b"".join(lines[start:start + per_object]), compresslevel=5)
    return objects


def baseline(s3, bucket: str, prefix: str, dsn: str) -> tuple[float, int, Decimal]:
    """Single-process Python: the same read, typing, dedupe and COPY, no Spark."""
    import psycopg

    started = time.perf_counter()
    seen: dict[str, tuple] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            for line in body.splitlines():
                r = json.loads(line)
                q, price = int(r["quantity"]), Decimal(r["unit_price"])
                seen[r["event_id"]] = (
                    r["event_id"], r["invoice_no"], r["stock_code"], r["description"], q,
                    r["invoice_date"].replace("T", " "), price, r["customer_id"], r["country"],
                    q * price, r["invoice_no"].startswith("C"),
                )
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE bench_sales (LIKE analytics.sales INCLUDING DEFAULTS)")
        cols = ("event_id, invoice_no, stock_code, description, quantity, invoice_date, "
                "unit_price, customer_id, country, line_total, is_cancellation")
        with conn.cursor().copy(f"COPY bench_sales ({cols}) FROM STDIN") as copy:
            for row in seen.values():
                copy.write_row(row)
        ((count, revenue),) = conn.execute(
            "SELECT count(*), sum(line_total) FROM bench_sales").fetchall()
    return time.perf_counter() - started, count, revenue


class CloudCpu:
    """CPU seconds (user+sys) of every process of the cloud between `start()` and `stop()`,
    sampled every 0.2 s so that processes which end meanwhile (the job run's Python and its Spark
    JVM, which no parent reaps in time to count) keep what they used up to their last sample."""

    def __init__(self, cloud):
        import threading

        from emulation.control.supervisor import PidFile

        self._pids = PidFile(cloud.config.state_dir)
        self._last: dict[tuple[int, float], float] = {}
        self._first: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        for part in self._pids.read().values():
            try:
                root = psutil.Process(part.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                try:
                    t = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                except psutil.Error:
                    continue
                self._first.setdefault(key, t.user + t.system if not self._started else 0.0)
                self._last[key] = t.user + t.system

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def start(self) -> None:
        self._started = False
        self._sample()
        self._started = True
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(cpu - self._first.get(key, 0.0) for key, cpu in self._last.items())


def run(data_path: Path, rows: int | None = None, per_object: int = 2000) -> dict:
    import psycopg

    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud
    from emulation.glue.runner import run_job_and_wait

    t0 = time.perf_counter()
    objects = build_archive(Path(data_path), rows, per_object)
    lines = sum(gzip.decompress(b).count(b"\n") for b in objects.values())
    print(f"archive: {lines} lines in {len(objects)} objects (built in "
          f"{time.perf_counter() - t0:.1f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        cloud = LocalCloud(CloudConfig.on_free_ports(Path(tmp), services=["glue"]),
                           out=lambda line: None).start()
        try:
            table = cloud.resources.glue_tables[0]
            bucket, s3 = cloud.names.bucket(table.bucket), cloud.client("s3")
            for suffix, body in objects.items():
                s3.put_object(Bucket=bucket, Key=table.prefix + suffix, Body=body)

            meter = CloudCpu(cloud)
            meter.start()
            started = time.perf_counter()
            result = run_job_and_wait(cloud.client("glue"), JOB, {}, timeout_s=1800, poll_s=0.5)
            job_wall = time.perf_counter() - started
            job_cpu = meter.stop()
            if result["JobRunState"] != "SUCCEEDED":
                raise RuntimeError(f"job run {result['JobRunState']}: {result.get('ErrorMessage')}")
            log = (cloud.config.logs_dir / "glue" / JOB / f"{result['Id']}.log").read_text()
            glue_lines = [line.split(" glue: ", 1)[1] for line in log.splitlines()
                          if " glue: " in line]
            phases = {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)s", log.split(
                "timings:")[-1].splitlines()[0])}
            with psycopg.connect(cloud.warehouse_dsn) as conn:
                ((count, revenue),) = conn.execute(
                    "SELECT count(*), sum(line_total) FROM analytics.sales").fetchall()
            base_wall, base_count, base_revenue = baseline(s3, bucket, table.prefix,
                                                           cloud.warehouse_dsn)
        finally:
            cloud.stop(quiet=True)
            cloud.destroy()
    if (count, revenue) != (base_count, base_revenue):
        raise RuntimeError(f"job loaded {count} rows / {revenue}, baseline {base_count} / "
                           f"{base_revenue}: they must agree")
    return {"lines": lines, "objects": len(objects), "rows_loaded": count, "revenue": revenue,
            "job_wall_s": job_wall, "job_cpu_s": job_cpu, "phases_s": phases, "baseline_wall_s": base_wall,
            "job_over_baseline": job_wall / base_wall, "job_log": glue_lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the dataset (.csv or .csv.gz)")
    parser.add_argument("--rows", type=int, default=None, help="first N sale lines (default all)")
    parser.add_argument("--lines-per-object", type=int, default=2000)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    r = run(args.data, args.rows, args.lines_per_object)
    other = r["job_wall_s"] - sum(r["phases_s"].values())
    print(f"rows loaded         {r['rows_loaded']:>10}  revenue {r['revenue']}")
    print(f"glue job (wall)     {r['job_wall_s']:>9.1f} s  (target < 60 s on 2 cores)")
    print(f"glue job (CPU)      {r['job_cpu_s']:>9.1f} s  (every process of the cloud: Spark, runner, moto, "
          f"PostgreSQL; barely depends on the load)")
    for name, seconds in r["phases_s"].items():
        print(f"  {name:<17} {seconds:>9.1f} s")
    print(f"  {'runner/poll':<17} {other:>9.1f} s")
    print(f"baseline (1 proc)   {r['baseline_wall_s']:>9.1f} s  (python json + psycopg COPY)")
    print(f"job / baseline      {r['job_over_baseline']:>9.2f} x")
    print("job log:\n  " + "\n  ".join(r["job_log"]))
    return 0
