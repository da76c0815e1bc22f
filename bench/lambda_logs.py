"""Benchmark: what delivering function logs to CloudWatch Logs costs the stream path.

    python -m bench lambda_logs [--data PATH] [--rows 20000] [--rounds 2]

Each round starts two private clouds one after the other, identical but for
`LOCALCLOUD_LAMBDA_LOGS`: `file` (the baseline: log files only) and `cloudwatch` (files plus
PutLogEvents to moto, `emulation.awslambda.logs`). On each, after a warm-up (cold starts outside the
clock), the replay client sends `--rows` events (500 per request, 4 in flight) and the clock stops
when both consumers have handled every acknowledged record (DynamoDB and the S3 archive: the
`caught_up_at` of `GET /mappings`). Reported per mode: events/s and CPU milliseconds per event of
every process of the cloud (moto, runtime, Lambda workers) and the client, plus the lines shipped;
then the ratios cloudwatch / file. Rounds alternate the order (file first, then cloudwatch first)
so a machine growing busier does not favour one mode. CPU per event is the figure to read on a
shared machine; events/s moves with the load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.stream import DEFAULT_DATA, SAMPLE_DATA, CpuMeter, _api, _events, wait_visible, warm_up  # noqa: E402

SERVICES = ["lambda", "mappings", "api", "firehose"]  # as bench.stream: its readiness probes ask Firehose too
MODES = ("file", "cloudwatch")
JSON_OUT = REPO_ROOT / ".e2e" / "bench-lambda-logs.json"


def _cloud(tmp: str, mode: str):
    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    config = CloudConfig.on_free_ports(Path(tmp), services=SERVICES,
                                       extra_env={"LOCALCLOUD_LAMBDA_LOGS": mode})
    return LocalCloud(config, out=lambda line: print("  " + line, file=sys.stderr))


def _shipped(cloud) -> int:
    """Log events now in CloudWatch Logs for the pipeline's functions."""
    logs, total = cloud.client("logs"), 0
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        for stream in logs.describe_log_streams(logGroupName=group["logGroupName"])["logStreams"]:
            token = None
            while True:
                page = logs.get_log_events(logGroupName=group["logGroupName"], startFromHead=True,
                                           logStreamName=stream["logStreamName"],
                                           **({"nextToken": token} if token else {}))
                total += len(page["events"])
                if not page["events"] or page.get("nextForwardToken") == token:
                    break
                token = page.get("nextForwardToken")
    return total


def measure(mode: str, data: Path, rows: int) -> dict:
    from pipeline.client.replay import replay

    with tempfile.TemporaryDirectory(prefix=f"bench-logs-{mode}-") as tmp:
        cloud = _cloud(tmp, mode)
        try:
            cloud.start()
            warm_up(cloud, data)
            api = _api(cloud, 4)
            cpu = CpuMeter(cloud.config.state_dir)
            cpu.start()
            began = time.time()
            try:
                summary = replay(api, _events(data, rows), batch_size=500, concurrency=4)
            finally:
                api.close()
            if not summary.ok:
                raise RuntimeError(f"replay failed: {summary.render()}")
            visible = wait_visible(cloud.runtime_url, time.time(), ["dynamodb", "s3 archive"], 1800)
            elapsed = max(visible.values()) - began
            cpu_ms = cpu.stop(summary.accepted)
            time.sleep(2.5)  # the shipper's last batch (it sends once a second)
            return {
                "mode": mode,
                "events": summary.accepted,
                "events_per_s": round(summary.accepted / elapsed, 1),
                "cpu_ms_per_event": cpu_ms,
                "log_events_in_cloudwatch": _shipped(cloud) if mode == "cloudwatch" else 0,
            }
        finally:
            cloud.destroy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench lambda_logs", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_file() else SAMPLE_DATA)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=JSON_OUT)
    args = parser.parse_args(argv)
    runs: list[dict] = []
    for round_no in range(args.rounds):
        order = MODES if round_no % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            print(f"  round {round_no + 1}: {mode} ...", file=sys.stderr)
            runs.append(measure(mode, args.data, args.rows))

    def median(mode: str, figure) -> float:
        return statistics.median(figure(r) for r in runs if r["mode"] == mode)

    rows = []
    for label, figure in (("events/s to DynamoDB + S3", lambda r: r["events_per_s"]),
                          ("CPU ms per event, all processes", lambda r: r["cpu_ms_per_event"]["total"]),
                          ("  of which the runtime", lambda r: r["cpu_ms_per_event"].get("runtime", 0.0)),
                          ("  of which moto", lambda r: r["cpu_ms_per_event"].get("moto", 0.0))):
        base, logs = median("file", figure), median("cloudwatch", figure)
        rows.append((label, f"{base:,.3f}", f"{logs:,.3f}", f"{logs / base:.3f}x" if base else "-"))
    shipped = [r["log_events_in_cloudwatch"] for r in runs if r["mode"] == "cloudwatch"]
    width = [max(len(r[i]) for r in rows + [("", "files only", "files + CloudWatch", "ratio")]) for i in range(4)]
    print("  ".join(c.ljust(w) for c, w in zip(("", "files only", "files + CloudWatch", "ratio"), width)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, width)))
    print(f"medians of {args.rounds} round(s) of {args.rows:,} events each; log events in CloudWatch "
          f"Logs per cloudwatch run: {shipped}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps({"runs": runs, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
