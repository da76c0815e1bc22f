"""Benchmark: what keeping moto's state durable costs the stream path, and what restoring it takes.

    python -m bench durability [--data PATH] [--rows 20000] [--rounds 2]

Each round starts two private clouds one after the other, identical but for `durable`: `memory`
(the baseline: moto's state in its memory only, LOCALCLOUD_DURABLE=0) and `durable` (every
acknowledged Kinesis record, DynamoDB item and S3 object written to `<state>/moto` before the
answer, `emulation.moto.persistence`). On each, after a warm-up (cold starts outside the clock),
the replay client sends `--rows` events (500 per request, 4 in flight) and the clock stops when
both consumers have handled every acknowledged record (DynamoDB and the S3 archive). Reported per
mode: events/s, CPU milliseconds per event of every process and of moto alone, the load average
around the run, and for the durable cloud the bytes written and the time its moto then takes to
restore that state (stopped, started again: the restore report's own timing). Rounds alternate
the order so a machine growing busier does not favour one mode. CPU per event is the figure to
read on a shared machine; events/s moves with the load.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.ab import SERVICES, alternate, arguments, compare, replay_until_visible, write_json  # noqa: E402

MODES = ("memory", "durable")
JSON_OUT = REPO_ROOT / ".e2e" / "bench-durability.json"


def _cloud(tmp: str, mode: str):
    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    config = CloudConfig.on_free_ports(Path(tmp), services=SERVICES, durable=(mode == "durable"))
    return LocalCloud(config, out=lambda line: print("  " + line, file=sys.stderr))


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _restore_seconds(cloud) -> dict:
    """Stop moto (as `make down` does) and start it alone again: its restore report's figures."""
    from emulation.control.supervisor import http_json, stop_part
    from emulation.moto.server import PERSISTENCE_PATH

    record = cloud.pids.read()["moto"]
    stop_part(record)
    cloud.pids.remove("moto")
    began = time.monotonic()
    cloud.start()  # starts moto alone: the others run
    up_s = time.monotonic() - began
    restore = (http_json(cloud.config.aws_endpoint + PERSISTENCE_PATH, timeout=10) or {}).get("restore", {})
    return {"restore_s": restore.get("seconds"), "up_s": round(up_s, 2), "summary": restore.get("summary")}


def measure(mode: str, data: Path, rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-durability-{mode}-") as tmp:
        cloud = _cloud(tmp, mode)
        try:
            cloud.start()
            run = replay_until_visible(cloud, data, rows)
            result = {
                "mode": mode,
                "events": run.events,
                "events_per_s": round(run.events / run.elapsed_s, 1),
                "cpu_ms_per_event": run.cpu_ms_per_event,
                "load_average": [round(run.load_before, 2), round(os.getloadavg()[0], 2)],
                "bytes_written": _bytes_under(cloud.config.moto_state_dir),
            }
            if mode == "durable":
                result["restore"] = _restore_seconds(cloud)
            return result
        finally:
            cloud.destroy()

def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, "python -m bench durability", __doc__.split("\n")[0], JSON_OUT)
    runs = alternate(MODES, args.rounds, lambda mode: measure(mode, args.data, args.rows))
    rows = compare(runs, MODES, ("memory only", "durable"), (
        ("events/s to DynamoDB + S3", lambda r: r["events_per_s"]),
        ("CPU ms per event, all processes", lambda r: r["cpu_ms_per_event"]["total"]),
        ("  of which moto", lambda r: r["cpu_ms_per_event"].get("moto", 0.0)),
        ("load average (1 min) at the end", lambda r: r["load_average"][1]),
    ))
    durable_runs = [r for r in runs if r["mode"] == "durable"]
    written = statistics.median(r["bytes_written"] for r in durable_runs)
    print(f"medians of {args.rounds} round(s) of {args.rows:,} events each; durable state written: "
          f"{written / 1e6:,.1f} MB ({written / args.rows:,.0f} bytes per event)")
    for r in durable_runs:
        print(f"  restore of that state: {r['restore']['summary']}; moto back in {r['restore']['up_s']} s")
    write_json(args.json_out, runs, rows)
    return 0

if __name__ == "__main__":
    sys.exit(main())
