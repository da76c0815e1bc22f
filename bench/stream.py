"""Benchmark: the stream path end to end (client -> API -> ingest -> Kinesis -> DynamoDB, S3, warehouse).

    python -m bench stream [--data PATH] [--rows N|all] [--latency-seconds 30] [--naive-events 5000]

On a private local cloud (free ports, temporary state folder, destroyed at the end):

1. Throughput: the replay client (`pipeline.client`, its defaults: 500 events per request, 4 in
   flight) sends the dataset; the clock runs from the client's start until the last event is
   visible in each sink. "Visible" is read from the runtime, not guessed: a consumer's
   `caught_up_at` (`GET /mappings`, `GET /firehose`) is the start of a poll that found nothing new
   with nothing buffered or in flight, so every record acknowledged before it is in DynamoDB
   (sales-projector), in the S3 archive (sales-archiver) or committed in the warehouse (Firehose
   COPY). The figures are then checked, outside the clock, by reading every sink back
   (`pipeline.client.sinks`, as `make e2e` does): a run whose sinks do not reconcile fails.
2. Latency at a steady rate (default 500 events/s, 100 events per request): for every request,
   the time from the start of its POST until all its events are in DynamoDB, i.e. until the
   sales-projector mapping has checkpointed (after a successful invocation) past the highest
   sequence number the ingest answer gave for each shard; `GET /mappings` is watched every 20 ms,
   so the probe adds no load on moto. These events are the dataset's lines under another event-id
   prefix and invoice numbers + 400000, so they are new invoices of existing customers.
3. Peak resident memory of the cloud (moto, PostgreSQL, runtime and Lambda workers), sampled
   every 0.5 s: all parts together, and each part's own peak.
   CPU milliseconds per event (psutil user+sys) are printed per part: moto, the warehouse, the
   runtime (gateway, pollers, Firehose), each Lambda function's workers and this client; the
   steering figure for speed work, which barely depends on the machine's load.
   `--latency-seconds 0 --naive-events 0 --rows 50000` gives only that, in about a minute.
4. The naive path, in the same run, on a second private cloud: one request per event (client batch
   size 1) and one record per invocation (every event-source mapping with BatchSize 1, no batching
   window: one BatchGetItem/BatchWriteItem/PutItem round and one S3 object per record), on the
   first `--naive-events` lines; its events/s to DynamoDB + S3 is compared with the batched
   path's figure from step 1.

Firehose keeps the description's buffering (64 MB or 60 s): the warehouse column includes up to a
minute of configured buffering, which is why DynamoDB + S3 is reported on its own too.
Prints a table and writes `.e2e/bench-stream.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline.resources import PIPELINE  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ecommerce-data.csv.gz"
SAMPLE_DATA = REPO_ROOT / "data" / "sample" / "ecommerce-sample.csv.gz"
JSON_OUT = REPO_ROOT / ".e2e" / "bench-stream.json"
TARGET_EVENTS_PER_S = 3000
TARGET_P99_S = 2.0
SERVICES = ["lambda", "mappings", "api", "firehose"]
SINKS = {"dynamodb": "sales-projector", "s3 archive": "sales-archiver"}
# Synthetic event-id prefixes (16 hex digits) and invoice shifts: new invoices, never the dataset's.
WARM_UP = ("00000000000000aa", 300_000)
LATENCY = ("1a7e0c1a7e0c1a7e", 400_000)

# The naive consumers: one record per invocation, no batching window.
NAIVE_PIPELINE = PIPELINE.model_copy(update={"event_source_mappings": tuple(
    m.model_copy(update={"batch_size": 1, "maximum_batching_window_s": 0})
    for m in PIPELINE.event_source_mappings
)})


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def caught_up(runtime_url: str) -> dict[str, float | None]:
    """Per sink: the time before which every acknowledged record is visible there."""
    mappings = {m["function"]: m["caught_up_at"] for m in _get(runtime_url + "/mappings")["mappings"]}
    found = {sink: mappings.get(fn) for sink, fn in SINKS.items()}
    deliveries = _get(runtime_url + "/firehose")["deliveries"]
    found["warehouse"] = min((d["caught_up_at"] or 0 for d in deliveries), default=None) or None
    return found


def wait_visible(runtime_url: str, since: float, sinks: list[str], timeout_s: float) -> dict[str, float]:
    """Epoch time at which each sink had every record acknowledged before `since`."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(seen) < len(sinks):
        now = caught_up(runtime_url)
        for sink in sinks:
            if sink not in seen and (now[sink] or 0) >= since:
                seen[sink] = now[sink]
        if time.monotonic() > deadline:
            raise RuntimeError(f"sinks {sorted(set(sinks) - set(seen))} not caught up after {timeout_s:.0f} s")
        time.sleep(0.1)
    return seen


class CpuMeter:
    """CPU seconds used by each part of the cloud (and this client) between `start()` and `stop()`:
    a figure that stays comparable on a busy machine, where wall-clock rates do not."""

    def __init__(self, state_dir: Path):
        from emulation.control.supervisor import PidFile

        self.pids = PidFile(state_dir)
        self._start: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        import psutil

        usage: dict[str, float] = {}
        for name, part in self.pids.read().items():
            try:
                root = psutil.Process(part.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                try:
                    role = name
                    if proc.pid != root.pid and name == "runtime":
                        role = proc.environ().get("AWS_LAMBDA_FUNCTION_NAME", "runtime")
                    times = proc.cpu_times()
                    usage[role] = usage.get(role, 0.0) + times.user + times.system
                except psutil.Error:
                    pass
        own = psutil.Process().cpu_times()
        usage["client (this process)"] = own.user + own.system
        return usage

    def start(self) -> None:
        self._start = self._sample()

    def stop(self, events: int) -> dict[str, float]:
        """CPU milliseconds per event, by part (a part that restarted meanwhile is undercounted)."""
        end = self._sample()
        per_event = {k: round((v - self._start.get(k, 0.0)) * 1000 / events, 3) for k, v in end.items()}
        per_event["total"] = round(sum(per_event.values()), 3)
        return per_event


class MemoryPeak:
    """Samples the RSS of the cloud's process trees every 0.5 s; `.peak` in bytes (all parts at
    one instant), `.peak_by_part` each part's own peak (a Lambda worker counts as its function)."""

    def __init__(self, state_dir: Path):
        from emulation.control.supervisor import PidFile

        self.pids = PidFile(state_dir)
        self.peak = 0
        self.peak_by_part: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            by_part = _rss_by_part(self.pids)
            self.peak = max(self.peak, sum(by_part.values()))
            for part, rss in by_part.items():
                self.peak_by_part[part] = max(self.peak_by_part.get(part, 0), rss)

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _rss_by_part(pids) -> dict[str, int]:
    import psutil

    usage: dict[str, int] = {}
    for name, part in pids.read().items():
        try:
            root = psutil.Process(part.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                role = name
                if proc.pid != root.pid and name == "runtime":
                    role = proc.environ().get("AWS_LAMBDA_FUNCTION_NAME", "runtime")
                usage[role] = usage.get(role, 0) + proc.memory_info().rss
            except psutil.Error:
                pass
    return usage


def relabel(event, prefix: str, shift: int):
    """The same sale under another event-id prefix and invoice number (a new, distinct invoice)."""
    letter = event.invoice_no[0] if event.invoice_no[0].isalpha() else ""
    number = int(event.invoice_no[len(letter):]) + shift
    line = event.event_id.rsplit(":", 1)[1]
    return event.model_copy(update={"event_id": f"{prefix}:{line}", "invoice_no": f"{letter}{number:06d}"})


def _events(data: Path, limit: int | None, relabel_as: tuple[str, int] | None = None):
    from pipeline.source import SourceFile, read_events

    for event in read_events(SourceFile.open(data), limit=limit):
        yield relabel(event, *relabel_as) if relabel_as else event


def _api(cloud, concurrency: int):
    from pipeline.client.api import EventsApi

    return EventsApi(cloud.api_url, cloud.api_key, timeout_s=60, pool_size=concurrency)


def warm_up(cloud, data: Path) -> None:
    """Cold-start the workers (4 ingest, the consumers) outside the clock."""
    from pipeline.client.replay import replay

    api = _api(cloud, 4)
    try:
        began = time.time()
        summary = replay(api, _events(data, 200, WARM_UP), batch_size=50, concurrency=4)
    finally:
        api.close()
    if not summary.ok:
        raise RuntimeError(f"warm-up replay failed: {summary.render()}")
    wait_visible(cloud.runtime_url, time.time(), list(SINKS), 120)
    print(f"  warm-up: {summary.accepted} events visible in DynamoDB and S3 after "
          f"{time.time() - began:.1f} s (cold starts)", file=sys.stderr)


def throughput(cloud, data: Path, rows: int | None, batch_size: int, concurrency: int,
               verify: bool) -> dict:
    """Replay and time until every sink shows the last event; then reconcile the sinks."""
    from pipeline.client.replay import replay
    from pipeline.reconcile import FigureBuilder

    builder, span = FigureBuilder(), []

    def counted(events):
        for event in events:
            builder.add_event(event)
            if span:
                span[1:] = [event.line_number]
            else:
                span.append(event.line_number)
            yield event

    api = _api(cloud, concurrency)
    cpu = CpuMeter(cloud.config.state_dir)
    cpu.start()
    began = time.time()
    try:
        summary = replay(api, counted(_events(data, rows)), batch_size=batch_size, concurrency=concurrency)
    finally:
        api.close()
    sent_at = time.time()
    if not summary.ok:
        raise RuntimeError(f"replay failed: {summary.render()}")
    sinks = [*SINKS, "warehouse"]
    visible = wait_visible(cloud.runtime_url, sent_at, sinks, 1800)
    events = summary.accepted
    cpu_ms = cpu.stop(events)  # includes the polling until visible, as a real run pays it
    result = {
        "events": events,
        "requests": summary.requests,
        "retried_requests": summary.retried,
        "client_s": round(sent_at - began, 2),
        "client_events_per_s": round(events / (sent_at - began), 1),
        "request_ms_p50": round(summary.latency_ms(0.5), 1),
        "request_ms_p99": round(summary.latency_ms(0.99), 1),
        "visible_s": {s: round(t - began, 2) for s, t in visible.items()},
    }
    lambda_s = max(visible[s] for s in SINKS) - began
    all_s = max(visible.values()) - began
    result["events_per_s_dynamodb_s3"] = round(events / lambda_s, 1)
    result["events_per_s_all_sinks"] = round(events / all_s, 1)
    result["cpu_ms_per_event"] = cpu_ms
    if verify:
        result["reconciliation"] = reconcile(cloud, data, builder.figures(), span)
    return result


def reconcile(cloud, data: Path, expected, span: list[int]) -> dict:
    from pipeline.client import sinks
    from pipeline.reconcile import compare
    from pipeline.source import SourceFile

    prefix = SourceFile.open(data).digest[:16]
    scope = sinks.Scope(prefix, span[0], span[-1])
    endpoint, region = cloud.aws_endpoint, cloud.config.region
    os.environ.update({k: v for k, v in cloud.config.aws_env().items() if k.startswith("AWS_")})
    archive = sinks.ArchiveReader(scope, sinks.archive_bucket(endpoint=endpoint, region=region), endpoint, region)
    observed = {
        "dynamodb": sinks.read_dynamodb(scope, endpoint=endpoint, region=region),
        "s3 archive": archive.read(),
        "warehouse": sinks.read_warehouse(scope, cloud.warehouse_dsn, "stream.sales_events_dedup"),
    }
    problems = [str(m) for m in compare(expected, observed)]
    return {"ok": not problems, "mismatches": problems, "lines": expected.lines}


def latency(cloud, data: Path, rate: float, seconds: float, batch_size: int) -> dict:
    """POST -> visible in DynamoDB for every request, at a steady rate.

    The ingest answer names each event's shard and sequence number; a request is visible once
    the sales-projector mapping's checkpoint on each of its shards has reached the request's
    highest sequence number there (the checkpoint moves only after the invocation that wrote
    those records to DynamoDB returned). Watching `GET /mappings` every 20 ms costs moto nothing.
    """
    import httpx

    from pipeline.client.replay import percentile
    from pipeline.source import iter_batches

    pending: dict[int, tuple[float, dict[str, int]]] = {}  # request -> (POST start, shard -> seq)
    latencies: list[float] = []
    failures: list[str] = []
    lock, done = threading.Lock(), threading.Event()

    def watch() -> None:
        while not (done.is_set() and not pending):
            mapping = next(m for m in _get(cloud.runtime_url + "/mappings")["mappings"]
                           if m["function"] == SINKS["dynamodb"])
            now = time.perf_counter()
            reached = {sid: int(shard["checkpoint"] or 0) for sid, shard in mapping["shards"].items()}
            with lock:
                for k, (started, needed) in list(pending.items()):
                    if all(reached.get(sid, 0) >= seq for sid, seq in needed.items()):
                        latencies.append(now - started)
                        del pending[k]
            time.sleep(0.02)

    http = httpx.Client(headers={"x-api-key": cloud.api_key}, timeout=60,
                        limits=httpx.Limits(max_connections=8))
    url = cloud.api_url + "/events"

    def send(k: int, batch) -> None:
        body = json.dumps({"events": [e.wire() for e in batch]}, separators=(",", ":"))
        started = time.perf_counter()
        reply = http.post(url, content=body, headers={"content-type": "application/json"})
        if reply.status_code != 200:
            failures.append(f"{reply.status_code}: {reply.text[:200]}")
            return
        needed: dict[str, int] = {}
        for accepted in reply.json()["accepted"]:
            sid, seq = accepted["shard_id"], int(accepted["sequence_number"])
            needed[sid] = max(seq, needed.get(sid, 0))
        with lock:
            pending[k] = (started, needed)

    count = int(rate * seconds)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for k, batch in enumerate(iter_batches(_events(data, count, LATENCY), batch_size)):
            delay = began + k * batch_size / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, k, batch)
    sent_s = time.perf_counter() - began
    done.set()
    watcher.join(timeout=600)
    http.close()
    if failures or pending:
        raise RuntimeError(f"latency run: {len(failures)} failed requests ({failures[:3]}), "
                           f"{len(pending)} requests never visible")
    return {
        "events": count,
        "offered_events_per_s": rate,
        "achieved_events_per_s": round(count / sent_s, 1),
        "batch_size": batch_size,
        "samples": len(latencies),
        "p50_s": round(percentile(latencies, 0.5), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "max_s": round(max(latencies), 3),
    }


def _cloud(tmp: str, resources: str):
    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    config = CloudConfig.on_free_ports(Path(tmp), resources=resources, services=SERVICES)
    return LocalCloud(config, out=lambda line: print("  " + line, file=sys.stderr))


def _on_private_cloud(prefix: str, resources: str, data, measure) -> dict:
    """Start a private cloud, warm it up, `measure(cloud)` while its memory is watched, destroy it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        cloud = _cloud(tmp, resources)
        try:
            cloud.start()
            with MemoryPeak(cloud.config.state_dir) as memory:
                warm_up(cloud, data)
                result = measure(cloud)
            result["peak_rss_mb"] = round(memory.peak / 2**20, 1)
            result["peak_rss_mb_by_part"] = {k: round(v / 2**20, 1) for k, v in sorted(memory.peak_by_part.items())}
            return result
        except Exception:
            _show_logs(cloud)
            raise
        finally:
            cloud.destroy()


def run_batched(args) -> dict:
    def measure(cloud) -> dict:
        print("  throughput run ...", file=sys.stderr)
        result = throughput(cloud, args.data, args.rows, args.batch_size, args.concurrency, args.verify)
        if args.latency_seconds > 0:
            print("  latency run ...", file=sys.stderr)
            result["latency"] = latency(cloud, args.data, args.latency_rate, args.latency_seconds,
                                        args.latency_batch)
        return result

    return _on_private_cloud("bench-stream-", "pipeline.resources:PIPELINE", args.data, measure)


def _show_logs(cloud) -> None:
    """A failed run's evidence, before the state folder is deleted."""
    from emulation.control.supervisor import tail

    for part in ("moto", "runtime"):
        print(f"--- last lines of {part}.log ---\n{tail(cloud.log_path(part), 15)}", file=sys.stderr)


def run_naive(args) -> dict:
    def measure(cloud) -> dict:
        print(f"  naive run ({args.naive_events} events) ...", file=sys.stderr)
        return throughput(cloud, args.data, args.naive_events, 1, args.concurrency, args.verify)

    return _on_private_cloud("bench-stream-naive-", "bench.stream:NAIVE_PIPELINE", args.data, measure)


def render(report: dict) -> str:
    b, n = report["batched"], report.get("naive")
    rows = [("", "batched (500/request, mappings as described)", "naive (1/request, 1/invocation)")]

    def row(label, fn):
        rows.append((label, fn(b), fn(n) if n else "skipped"))

    row("events", lambda r: f"{r['events']:,}")
    row("client send, events/s", lambda r: f"{r['client_events_per_s']:,.0f}")
    for sink in ("dynamodb", "s3 archive", "warehouse"):
        row(f"visible in {sink} after", lambda r, s=sink: f"{r['visible_s'][s]:.1f} s")
    row("events/s to DynamoDB + S3", lambda r: f"{r['events_per_s_dynamodb_s3']:,.0f}")
    row("events/s to all sinks (end to end)", lambda r: f"{r['events_per_s_all_sinks']:,.0f}")
    row("CPU ms per event, all processes", lambda r: f"{r['cpu_ms_per_event']['total']:.3f}")
    for part in sorted({k for r in (b, n) if r for k in r["cpu_ms_per_event"]} - {"total"}):
        row(f"  of which {part}", lambda r, p=part: f"{r['cpu_ms_per_event'].get(p, 0):.3f}")
    row("peak RSS of the cloud", lambda r: f"{r['peak_rss_mb']:,.0f} MB")
    for part in sorted({k for r in (b, n) if r for k in r.get("peak_rss_mb_by_part", {})}):
        row(f"  peak of {part}", lambda r, p=part: f"{r.get('peak_rss_mb_by_part', {}).get(p, 0):,.0f} MB")
    row("sinks reconcile", lambda r: str(r.get("reconciliation", {}).get("ok", "not checked")))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width)) for r in rows]
    lat = b.get("latency")
    if lat:
        lines.append(f"latency POST -> visible in DynamoDB at {lat['achieved_events_per_s']:,.0f} events/s "
                     f"({lat['batch_size']}/request, {lat['samples']} samples): p50 {lat['p50_s']:.2f} s, "
                     f"p99 {lat['p99_s']:.2f} s, max {lat['max_s']:.2f} s (target p99 < {TARGET_P99_S:.0f} s)")
    if n:
        lines.append(f"batched / naive, events/s to DynamoDB + S3: {report['batched_vs_naive']}x")
    lines.append(f"end to end {b['events_per_s_all_sinks']:,.0f} events/s (target >= {TARGET_EVENTS_PER_S:,}); "
                 f"load average at start {report['load_average_start']}, at end {report['load_average_end']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench stream", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_file() else SAMPLE_DATA)
    parser.add_argument("--rows", default="all", help="N or 'all' (default all)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-rate", type=float, default=500.0)
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="0 skips the latency run")
    parser.add_argument("--latency-batch", type=int, default=100)
    parser.add_argument("--naive-events", type=int, default=5000, help="0 skips the naive run")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip reading every sink back after the throughput run")
    parser.add_argument("--json-out", type=Path, default=JSON_OUT)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if args.rows != "all" and not args.rows.isdigit():
        parser.error(f"--rows must be a number or 'all', got {args.rows!r}")
    args.rows = None if args.rows == "all" else int(args.rows)
    report: dict = {"data": str(args.data), "load_average_start": round(os.getloadavg()[0], 2)}
    print(f"bench stream: {args.data} (load average {report['load_average_start']})", file=sys.stderr)
    report["batched"] = run_batched(args)
    if args.naive_events > 0:
        report["naive"] = run_naive(args)
        report["batched_vs_naive"] = round(
            report["batched"]["events_per_s_dynamodb_s3"] / report["naive"]["events_per_s_dynamodb_s3"], 1)
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    report["targets"] = {"events_per_s_all_sinks": TARGET_EVENTS_PER_S, "latency_p99_s": TARGET_P99_S}
    print(render(report))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures in {args.json_out}")
    failed = [r for r in (report["batched"], report.get("naive")) if r and not r.get("reconciliation", {}).get("ok", True)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
