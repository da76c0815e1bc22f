"""Benchmark: what the console costs the pipeline while a replay runs (page open vs closed).

    python -m bench console [--data PATH] [--events 15000] [--rounds 4]

On one private local cloud (the real description), rounds of `--events` events each (the dataset's
lines under a new event-id prefix per round, so every round writes new items), alternating the
console page closed and open in a headless chromium (Debian's, driven by Playwright). Per round:
events per second from the first POST until DynamoDB and the S3 archive hold the round's last
event (the mappings' `caught_up_at`), and the cloud's CPU milliseconds per event (moto, runtime,
Lambda workers, PostgreSQL: the browser's own CPU is not the pipeline's and is not counted).
Closed and open rounds alternate in the same run, so drift on a shared machine hits both alike;
the figures are the ratios open / closed. Prints a table and writes `.e2e/bench-console.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.stream import DEFAULT_DATA, SAMPLE_DATA, CpuMeter, _api, _events, wait_visible, warm_up

REPO_ROOT = Path(__file__).resolve().parents[1]
JSON_OUT = REPO_ROOT / ".e2e" / "bench-console.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-sync"]


def one_round(cloud, data: Path, events: int, k: int) -> dict:
    from pipeline.client.replay import replay

    prefix = f"c0501e{k:010x}"
    api = _api(cloud, 4)
    cpu = CpuMeter(cloud.config.state_dir)
    cpu.start()
    began = time.time()
    try:
        summary = replay(api, _events(data, events, (prefix, 100_000 + 50_000 * (k % 4))), batch_size=500, concurrency=4)
    finally:
        api.close()
    if not summary.ok:
        raise RuntimeError(f"replay failed: {summary.render()}")
    visible = wait_visible(cloud.runtime_url, time.time(), ["dynamodb", "s3 archive"], 900)
    return {"events": summary.accepted, "events_per_s": round(summary.accepted / (max(visible.values()) - began), 1),
            "cpu_ms_per_event": cpu.stop(summary.accepted)}


def run(data: Path, events: int, rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    results = {"closed": [], "open": []}
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, sync_playwright() as p:
        cloud = LocalCloud(CloudConfig.on_free_ports(Path(tmp)), out=lambda line: print("  " + line, file=sys.stderr))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            cloud.start()
            warm_up(cloud, data)
            for k in range(rounds):
                mode = "closed" if k % 2 == 0 else "open"
                page = None
                if mode == "open":
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.goto(cloud.console_url)
                    page.wait_for_function("document.body.dataset.updated !== undefined", timeout=60000)
                result = one_round(cloud, data, events, k)
                if page is not None:
                    result["snapshots_seen"] = page.evaluate("() => document.body.dataset.updated")
                    page.close()
                    time.sleep(12)  # the console stops collecting WATCH_S after the last request
                print(f"  round {k + 1} ({mode}): {result['events_per_s']} events/s, "
                      f"{result['cpu_ms_per_event']['total']} CPU-ms/event", file=sys.stderr)
                results[mode].append(result)
        finally:
            browser.close()
            cloud.destroy()
    return results


def summarize(results: dict) -> dict:
    def mean(mode: str, key) -> float:
        return statistics.mean(key(r) for r in results[mode])

    rate = {m: mean(m, lambda r: r["events_per_s"]) for m in ("closed", "open")}
    cpu = {m: mean(m, lambda r: r["cpu_ms_per_event"]["total"]) for m in ("closed", "open")}
    runtime = {m: mean(m, lambda r: r["cpu_ms_per_event"].get("runtime", 0.0)) for m in ("closed", "open")}
    moto = {m: mean(m, lambda r: r["cpu_ms_per_event"].get("moto", 0.0)) for m in ("closed", "open")}
    return {"events_per_s": rate, "cpu_ms_per_event": cpu, "runtime_cpu_ms_per_event": runtime,
            "moto_cpu_ms_per_event": moto,
            "ratio_events_per_s": round(rate["open"] / rate["closed"], 3),
            "ratio_cpu_per_event": round(cpu["open"] / cpu["closed"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.exists() else SAMPLE_DATA)
    parser.add_argument("--events", type=int, default=15000, help="events per round (default 15000)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, alternating closed/open (default 4)")
    parser.add_argument("--json-out", type=Path, default=JSON_OUT)
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (one closed, one open)")
    results = run(args.data, args.events, args.rounds)
    report = {"rounds": results, **summarize(results)}
    print(f"{'console page':<14} {'events/s to DynamoDB+S3':>24} {'cloud CPU-ms/event':>19} "
          f"{'runtime':>8} {'moto':>6}")
    for mode in ("closed", "open"):
        print(f"{mode:<14} {report['events_per_s'][mode]:>24,.0f} {report['cpu_ms_per_event'][mode]:>19.3f} "
              f"{report['runtime_cpu_ms_per_event'][mode]:>8.3f} {report['moto_cpu_ms_per_event'][mode]:>6.3f}")
    print(f"open / closed: events/s {report['ratio_events_per_s']:.2f}x, CPU per event "
          f"{report['ratio_cpu_per_event']:.2f}x (same run, rounds alternating)")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures in {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
