"""Benchmark: the local cloud itself (start-up, Kinesis fill rate, idle memory, mappings, gateway).

    python -m bench cloud [--kinesis-records 100000] [--skip-kinesis] [--json]

1. `python -m emulation up` (what `make up` runs, LOCALCLOUD_* ports on free ports,
   LOCALCLOUD_STATE_DIR in a temporary folder) to ready: wall clock and CPU seconds (the CLI plus
   every process it started, with their reaped children), with the 1-minute load average, in a
   fresh state folder (cold: initdb, first imports) and `--warm-runs` more times after `down`
   (warm: the target is < 5 s). In-run baseline: how long a bare moto server takes to answer on
   the same machine at the same time (no cloud can be ready before its AWS endpoint is).
2. Resident memory of the idle cloud: RSS summed over every process it started and their children
   (moto, the postmaster and its workers, the runtime and any Lambda worker).
3. Kinesis PutRecords (500 records per call, one producer) filling one shard to `--kinesis-records`,
   against stock moto and the patched moto in the same run: records/s overall and over the last
   10% of the fill, and the patched/stock ratio (the in-run baseline is stock moto).
4. `bench.mapping_throughput.run(cloud)` and `bench.gateway_throughput.run(cloud)` when present,
   each on a cloud started with the module's `BENCH_RESOURCES`.

Every cloud runs on free ports in a temporary folder and is stopped (and its data deleted) after.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from emulation.config import CloudConfig, free_ports

TARGET_WARM_UP_S = 5.0
# Services the other cloud benchmarks need when the module does not say (BENCH_SERVICES).
SUB_BENCHMARKS = {
    "mapping_throughput": ["lambda", "mappings"],
    "gateway_throughput": ["lambda", "api"],
}


def _cli_env(state_dir: Path) -> dict[str, str]:
    ports = free_ports(4)
    # The bench measures its own embedded warehouse, whatever the shell points at.
    env = {k: v for k, v in os.environ.items() if k not in ("LOCALCLOUD_WAREHOUSE_DSN", "LOCALCLOUD_DURABLE")}
    env.update(
        LOCALCLOUD_STATE_DIR=str(state_dir),
        LOCALCLOUD_AWS_PORT=str(ports[0]),
        LOCALCLOUD_API_PORT=str(ports[1]),
        LOCALCLOUD_RUNTIME_PORT=str(ports[2]),
        LOCALCLOUD_WAREHOUSE_PORT=str(ports[3]),
    )
    return env


def _emulation(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "emulation", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The CLI and what it waited for (initdb, pg_ctl); the detached parts are counted apart.
    result.cli_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(
            f"`emulation {' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}"
        )
    return elapsed, result


def _parts_cpu_s(state: Path) -> dict[str, float]:
    """CPU seconds each part of the cloud (and its children, live or reaped) has used so far."""
    import psutil

    from emulation.control.supervisor import PidFile

    parts = {}
    for name, part in PidFile(state).read().items():
        total = 0.0
        try:
            root = psutil.Process(part.pid)
            for proc in [root, *root.children(recursive=True)]:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
        parts[name] = round(total, 2)
    return parts


def _timed_up(env: dict[str, str], state: Path) -> dict:
    """`python -m emulation up` to ready: wall clock, CPU seconds and the load it ran under."""
    load = os.getloadavg()[0]
    wall, result = _emulation(env, "up")
    parts = _parts_cpu_s(state)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(result.cli_cpu_s + sum(parts.values()), 2),
        "cli_cpu_s": round(result.cli_cpu_s, 2),
        "parts_cpu_s": parts,
        "load_1m": round(load, 2),
    }


def moto_alone_s() -> float:
    """In-run baseline: a bare `python -m emulation.moto.server` from spawn to its first answer."""
    from emulation.control.supervisor import http_status
    from emulation.moto.server import HEALTH_PATH

    port = free_ports(1)[0]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emulation.moto.server", "--port", str(port)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while http_status(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=1.0) is None:
            if proc.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError("the bare moto server did not answer")
            time.sleep(0.02)
        return round(time.perf_counter() - started, 2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def startup_and_memory(warm_runs: int = 3) -> dict:
    from emulation.control.cloud import LocalCloud
    from emulation.control.supervisor import PidFile, process_tree_rss

    baseline = moto_alone_s()
    with tempfile.TemporaryDirectory(prefix="bench-cloud-") as tmp:
        state = Path(tmp) / "state"
        env = _cli_env(state)
        try:
            cold = _timed_up(env, state)
            time.sleep(2.0)  # idle: let start-up transients (imports, first polls) settle
            pids = [part.pid for part in PidFile(state).read().values()]
            rss = process_tree_rss(pids)
            processes = _count_processes(pids)
            warm = []
            for _ in range(warm_runs):
                _emulation(env, "down")
                warm.append(_timed_up(env, state))
        finally:
            subprocess.run([sys.executable, "-m", "emulation", "down"], cwd=REPO_ROOT, env=env,
                           capture_output=True, check=False, timeout=120)  # fmt: skip
            if (state / "cloud.json").exists():
                LocalCloud(CloudConfig.load(state)).destroy()
    best = min(warm, key=lambda w: w["wall_s"])
    return {
        "services": os.environ.get("LOCALCLOUD_SERVICES") or "all",
        "cold": cold,
        "warm": warm,
        "cold_up_s": cold["wall_s"],
        "warm_up_s": [w["wall_s"] for w in warm],
        "warm_up_cpu_s": [w["cpu_s"] for w in warm],
        "moto_alone_s": baseline,
        "best_warm_vs_moto_alone": round(best["wall_s"] / baseline, 2),
        "warm_target_s": TARGET_WARM_UP_S,
        "meets_target": best["wall_s"] < TARGET_WARM_UP_S,
        "idle_rss_mb": round(rss / 2**20, 1),
        "idle_processes": processes,
    }


def _count_processes(pids: list[int]) -> int:
    import psutil

    seen = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            seen.update(p.pid for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            pass
    return len(seen)


def kinesis_fill(records: int, time_cap_s: float = 300.0) -> dict:
    """PutRecords rate filling one shard, stock vs patched moto (separate server processes)."""
    from tests.integration.test_moto_kinesis_patches import MotoServer

    results = {}
    for label, flags in (("stock", ("--no-patches",)), ("patched", ("--patch", "kinesis"))):
        server = MotoServer(*flags)
        try:
            results[label] = _fill(server, records, time_cap_s)
        finally:
            server.stop()
    stock, patched = results["stock"], results["patched"]
    return {
        "fill_records": records,
        "stock": stock,
        "patched": patched,
        "patched_vs_stock_overall": round(patched["records_per_s"] / stock["records_per_s"], 2),
        "patched_vs_stock_last_10pct": round(
            patched["last_10pct_records_per_s"] / stock["last_10pct_records_per_s"], 2
        ),
    }


def _fill(server, records: int, time_cap_s: float) -> dict:
    client = server.kinesis()
    stream = server.new_stream()
    batch = [{"Data": b"x" * 200, "PartitionKey": f"k{i}"} for i in range(500)]
    calls = records // 500
    tail_from = calls - max(1, calls // 10)
    started = time.perf_counter()
    tail_started = None
    done = 0
    for call in range(calls):
        if call == tail_from:
            tail_started = time.perf_counter()
        client.put_records(StreamName=stream, Records=batch)
        done += 500
        if time.perf_counter() - started > time_cap_s:
            break
    elapsed = time.perf_counter() - started
    tail_records = done - tail_from * 500 if tail_started else 0
    tail_s = time.perf_counter() - tail_started if tail_started else 0.0
    return {
        "records": done,
        "seconds": round(elapsed, 2),
        "records_per_s": round(done / elapsed, 1),
        "last_10pct_records_per_s": round(tail_records / tail_s, 1)
        if tail_s
        else round(500 / elapsed, 1),
        "capped": done < records,
    }


def sub_benchmark(name: str) -> dict:
    """Run bench.<name>.run(cloud) on a cloud with that module's BENCH_RESOURCES."""
    if importlib.util.find_spec(f"bench.{name}") is None:
        return {"benchmark": name, "status": "not implemented yet"}
    from emulation.control.cloud import LocalCloud

    module = importlib.import_module(f"bench.{name}")
    services = getattr(module, "BENCH_SERVICES", SUB_BENCHMARKS.get(name))
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        config = CloudConfig.on_free_ports(
            Path(tmp), resources=module.BENCH_RESOURCES, services=services
        )
        cloud = LocalCloud(config, out=lambda line: print(line, file=sys.stderr))
        try:
            cloud.start()
            return module.run(cloud)
        finally:
            cloud.destroy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench cloud", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--kinesis-records", type=int, default=100_000, help="shard fill (default 100000)"
    )
    parser.add_argument(
        "--skip-kinesis", action="store_true", help="skip the stock-vs-patched fill"
    )
    parser.add_argument("--skip-sub", action="store_true", help="skip mapping/gateway throughput")
    parser.add_argument("--warm-runs", type=int, default=3, help="warm `up`s after the cold one")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.kinesis_records < 5000:
        parser.error("--kinesis-records must be at least 5000 to show how the rate evolves")

    if args.warm_runs < 1:
        parser.error("--warm-runs must be at least 1")
    report: dict = {"startup": startup_and_memory(args.warm_runs)}
    _print_startup(report["startup"])
    if not args.skip_kinesis:
        report["kinesis"] = kinesis_fill(args.kinesis_records)
        _print_kinesis(report["kinesis"])
    if not args.skip_sub:
        for name in SUB_BENCHMARKS:
            try:
                report[name] = sub_benchmark(name)
            except Exception as exc:  # noqa: BLE001 - one failing sub-benchmark must not hide the others
                report[name] = {"benchmark": name, "status": f"failed: {type(exc).__name__}: {exc}"}
            print(f"\n{name}: {json.dumps(report[name], indent=2)}")
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _print_startup(s: dict) -> None:
    print(f"\nlocal cloud start-up (`python -m emulation up` to ready; services: {s['services']})")
    print(f"  {'':<26} {'wall s':>7} {'CPU s':>7}  {'load 1m':>7}   CPU s by part (CLI, moto, runtime, warehouse)")
    runs = [("cold (fresh state dir)", s["cold"])] + [
        (f"warm restart #{i}", w) for i, w in enumerate(s["warm"], 1)
    ]
    for label, r in runs:
        parts = r["parts_cpu_s"]
        by_part = ", ".join(f"{parts.get(n, 0.0):.2f}" for n in ("moto", "runtime", "warehouse"))
        print(f"  {label:<26} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f}  {r['load_1m']:>7.2f}   "
              f"{r['cli_cpu_s']:.2f}, {by_part}")  # fmt: skip
    print(f"  baseline: bare moto server answers after {s['moto_alone_s']:.2f} s; best warm up is "
          f"{s['best_warm_vs_moto_alone']}x that (target < {s['warm_target_s']:.0f} s: "
          f"{'met' if s['meets_target'] else 'NOT met'})")  # fmt: skip
    print(
        f"  idle resident memory        {s['idle_rss_mb']:>8.1f} MB over {s['idle_processes']} processes"
    )


def _print_kinesis(k: dict) -> None:
    print(f"\nKinesis PutRecords filling one shard to {k['fill_records']:,} records (500 per call)")
    print(f"  {'':<10} {'records/s':>12} {'last 10%':>12} {'seconds':>9}")
    for label in ("stock", "patched"):
        r = k[label]
        capped = "  (capped)" if r["capped"] else ""
        print(f"  {label:<10} {r['records_per_s']:>12,.0f} {r['last_10pct_records_per_s']:>12,.0f} "
              f"{r['seconds']:>9.1f}{capped}")  # fmt: skip
    print(f"  patched/stock: {k['patched_vs_stock_overall']}x overall, {k['patched_vs_stock_last_10pct']}x "
          "over the last 10%")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
