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

import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.ab import SERVICES, alternate, arguments, compare, replay_until_visible, write_json  # noqa: E402

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
    with tempfile.TemporaryDirectory(prefix=f"bench-logs-{mode}-") as tmp:
        cloud = _cloud(tmp, mode)
        try:
            cloud.start()
            run = replay_until_visible(cloud, data, rows)
            time.sleep(2.5)  # the shipper's last batch (it sends once a second)
            return {
                "mode": mode,
                "events": run.events,
                "events_per_s": round(run.events / run.elapsed_s, 1),
                "cpu_ms_per_event": run.cpu_ms_per_event,
                "log_events_in_cloudwatch": _shipped(cloud) if mode == "cloudwatch" else 0,
            }
        finally:
            cloud.destroy()

def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, "python -m bench lambda_logs", __doc__.split("\n")[0], JSON_OUT)
    runs = alternate(MODES, args.rounds, lambda mode: measure(mode, args.data, args.rows))
    rows = compare(runs, MODES, ("files only", "files + CloudWatch"), (
        ("events/s to DynamoDB + S3", lambda r: r["events_per_s"]),
        ("CPU ms per event, all processes", lambda r: r["cpu_ms_per_event"]["total"]),
        ("  of which the runtime", lambda r: r["cpu_ms_per_event"].get("runtime", 0.0)),
        ("  of which moto", lambda r: r["cpu_ms_per_event"].get("moto", 0.0)),
    ))
    shipped = [r["log_events_in_cloudwatch"] for r in runs if r["mode"] == "cloudwatch"]
    print(f"medians of {args.rounds} round(s) of {args.rows:,} events each; log events in CloudWatch "
          f"Logs per cloudwatch run: {shipped}")
    write_json(args.json_out, runs, rows)
    return 0

if __name__ == "__main__":
    sys.exit(main())
