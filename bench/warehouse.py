"""Benchmark: Redshift COPY into the stand-in vs PostgreSQL's own COPY, and what loads cost.

    python -m bench.warehouse [--data PATH] [--rows N] [--objects 8] [--sql-path]

1. The dataset's events (pipeline.source, validated as the pipeline does) become Firehose-style
   intermediate objects: gzip JSON lines in a real moto S3.
2. Timed: `COPY stream.sales_events ... FORMAT AS JSON 'auto' GZIP` through emulation.redshift.connection
   (S3 read + gunzip + JSON to rows + COPY into the table: the direct path, pyarrow's JSON reader
   with the table's schema), rows/s; then the same COPY converting per row in Python (orjson, the
   previous direct path, kept as the comparison); with `--sql-path` also the SQL path bad records
   take (staging + json_populate_record).
3. Baseline in the same run, before and after (the faster counts): PostgreSQL
   `COPY ... FROM STDIN (FORMAT csv)` of pre-built CSV into an identical table (no S3, no JSON, no
   gzip): the ceiling the stand-in is measured against. The load average is printed with it: the
   build machines are shared, so compare ratios, not rows/s.
4. Statements per 100,000 events through Firehose buffering (the description's settings) and the
   implied Redshift Serverless charge vs one INSERT per event (pipeline.redshift_billing).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecommerce-data.csv.gz"


def _records(data: Path, rows: int | None) -> list[dict]:
    from pipeline.source import SourceFile, read_events

    return [e.record() for e in read_events(SourceFile.open(data), limit=rows, on_error=lambda _e: None)]


def _objects(records: list[dict], count: int) -> tuple[list[bytes], int]:
    """`count` gzip JSON-lines objects, and their size unpacked."""
    size = max(1, -(-len(records) // count))
    out, unpacked = [], 0
    for i in range(0, len(records), size):
        body = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records[i:i + size])
        unpacked += len(body)
        out.append(gzip.compress(body, compresslevel=1))
    return out, unpacked


def _csv(records: list[dict], columns: tuple[str, ...]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for r in records:
        writer.writerow(["" if r[c] is None else r[c] for c in columns])
    return buf.getvalue().encode()


def run(data: Path = DEFAULT_DATA, rows: int | None = None, objects: int = 8, sql_path: bool = False) -> dict:
    import psycopg

    from emulation.control.scratch import ScratchMoto, ScratchPostgres
    from emulation.redshift.connection import connect, install_bookkeeping
    from emulation.redshift.dialect import reduce_script
    from pipeline import redshift_billing
    from pipeline.resources import PIPELINE

    firehose = PIPELINE.firehoses[0]
    columns = firehose.columns
    records = _records(data, rows)
    n = len(records)
    bodies, unpacked = _objects(records, objects)
    prebuilt_csv = _csv(records, columns)
    event_bytes = unpacked / n

    pg, moto = ScratchPostgres(), ScratchMoto()
    try:
        install_bookkeeping(pg.superuser_dsn)
        with psycopg.connect(pg.superuser_dsn, autocommit=True) as conn:
            for statement in reduce_script((Path(__file__).parents[1] / "pipeline/warehouse/schema.sql").read_text()):
                conn.execute(statement)
            conn.execute("CREATE TABLE public.baseline (LIKE stream.sales_events INCLUDING DEFAULTS)")
        s3 = moto.client("s3")
        s3.create_bucket(Bucket="bench")
        for i, body in enumerate(bodies):
            s3.put_object(Bucket="bench", Key=f"firehose/part-{i:04d}.gz", Body=body)

        copy_sql = (f"COPY {firehose.table} ({', '.join(columns)}) FROM 's3://bench/firehose/' "
                    f"IAM_ROLE 'arn:aws:iam::123456789012:role/bench' {firehose.copy_options}")

        def baseline() -> float:
            with psycopg.connect(pg.superuser_dsn, autocommit=True) as conn:
                conn.execute("TRUNCATE public.baseline")
                t0 = time.perf_counter()
                with conn.cursor() as cur, cur.copy(
                        f"COPY public.baseline ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
                    view = memoryview(prebuilt_csv)
                    for i in range(0, len(view), 1 << 20):
                        copy.write(view[i:i + (1 << 20)])
                return time.perf_counter() - t0

        def redshift_copy(direct_json: bool, direct_arrow: bool = True):
            with connect(pg.superuser_dsn, aws_endpoint=moto.endpoint, direct_json=direct_json,
                         direct_arrow=direct_arrow) as rs:
                rs.execute(f"TRUNCATE {firehose.table}")
                t0 = time.perf_counter()
                result = rs.execute(copy_sql, label="bench")
                return result, time.perf_counter() - t0

        # The baseline runs before and after; the faster one counts (the ratio errs low).
        baseline_s = baseline()
        result, copy_s = redshift_copy(direct_json=True)
        orjson_result, orjson_s = redshift_copy(direct_json=True, direct_arrow=False)
        sql_path_s = redshift_copy(direct_json=False)[1] if sql_path else None
        baseline_s = min(baseline_s, baseline())
        load_average = os.getloadavg()
    finally:
        moto.close()
        pg.close()

    rate = 1000.0  # events/s the replay client sustains through the API (order of magnitude)
    per_100k = redshift_billing.firehose_copies(100_000, event_bytes, rate, firehose.buffer_size_mb, firehose.buffer_interval_s)
    span = n / rate
    copies = redshift_billing.firehose_copies(n, event_bytes, rate, firehose.buffer_size_mb, firehose.buffer_interval_s)
    interval = span / max(copies, 1)
    firehose_usage = redshift_billing.usage([(i * interval, 2.0) for i in range(copies)])
    row_usage = redshift_billing.row_by_row(n, span)
    return {
        "rows": n,
        "loaded": result.rows,
        "copy_rows_per_s": n / copy_s,
        "baseline_rows_per_s": n / baseline_s,
        "ratio_vs_baseline": baseline_s / copy_s,
        "orjson_rows_per_s": n / orjson_s,
        "orjson_ratio_vs_baseline": baseline_s / orjson_s,
        "orjson_loaded": orjson_result.rows,
        "sql_path_rows_per_s": n / sql_path_s if sql_path_s else None,
        "sql_path_ratio_vs_baseline": baseline_s / sql_path_s if sql_path_s else None,
        "load_average_1_5_15": load_average,
        "event_bytes": event_bytes,
        "statements_per_100k_events": per_100k,
        "firehose_charge_usd": firehose_usage.charge,
        "row_by_row_charge_usd": row_usage.charge,
        "assumed_rate_eps": rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warehouse", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=None, help="first N events (default: all)")
    parser.add_argument("--objects", type=int, default=8, help="intermediate objects to split the events into")
    parser.add_argument("--sql-path", action="store_true",
                        help="also time the SQL path (json_populate_record), which bad records take")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    r = run(args.data, args.rows, args.objects, args.sql_path)
    print(f"warehouse: {r['rows']:,} events, {r['loaded']:,} loaded")
    print(f"  Redshift COPY (S3, gzip JSON)   {r['copy_rows_per_s']:>12,.0f} rows/s")
    print(f"  baseline PostgreSQL COPY (CSV)  {r['baseline_rows_per_s']:>12,.0f} rows/s")
    print(f"  ratio                           {r['ratio_vs_baseline']:>12.2f}")
    print(f"  per-row orjson path (Python)    {r['orjson_rows_per_s']:>12,.0f} rows/s, "
          f"ratio {r['orjson_ratio_vs_baseline']:.2f} ({r['orjson_loaded']:,} loaded)")
    if r["sql_path_rows_per_s"]:
        print(f"  SQL path (json_populate_record) {r['sql_path_rows_per_s']:>12,.0f} rows/s, "
              f"ratio {r['sql_path_ratio_vs_baseline']:.2f}")
    print("  load average (1/5/15 min)       " + " / ".join(f"{x:.1f}" for x in r["load_average_1_5_15"]))
    print(f"  statements per 100,000 events through Firehose buffering: {r['statements_per_100k_events']}"
          f" (at {r['assumed_rate_eps']:.0f} events/s, {r['event_bytes']:.0f} bytes/event)")
    print(f"  implied charge: Firehose COPYs ${r['firehose_charge_usd']:.2f} vs row-by-row INSERTs "
          f"${r['row_by_row_charge_usd']:.2f} (8 RPU x $0.375/RPU-hour)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
