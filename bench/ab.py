"""A/B benchmarks of the stream path: two private clouds identical but for one setting, in
alternating rounds, compared by the medians of their figures (bench.durability, bench.lambda_logs).

Rounds alternate the order (A first, then B first) so a machine growing busier does not favour
one mode; CPU per event is the figure to read on a shared machine, events/s moves with the load."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.stream import DEFAULT_DATA, SAMPLE_DATA, CpuMeter, _api, _events, wait_visible, warm_up

SERVICES = [
    "lambda",
    "mappings",
    "api",
    "firehose",
]  # as bench.stream: its readiness probes ask Firehose too
Figure = tuple[str, Callable[[dict], float]]


@dataclass
class StreamRun:
    events: int
    elapsed_s: float
    cpu_ms_per_event: dict
    load_before: float


def arguments(
    argv: list[str] | None, prog: str, description: str, json_out: Path
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_file() else SAMPLE_DATA
    )
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=json_out)
    return parser.parse_args(argv)


def replay_until_visible(cloud, data: Path, rows: int) -> StreamRun:
    """Warm the cloud up (cold starts outside the clock), replay `rows` events (500 per request,
    4 in flight) and stop the clock when DynamoDB and the S3 archive hold every accepted one."""
    from pipeline.client.replay import replay

    warm_up(cloud, data)
    api = _api(cloud, 4)
    cpu = CpuMeter(cloud.config.state_dir)
    load_before = os.getloadavg()[0]
    cpu.start()
    began = time.time()
    try:
        summary = replay(api, _events(data, rows), batch_size=500, concurrency=4)
    finally:
        api.close()
    if not summary.ok:
        raise RuntimeError(f"replay failed: {summary.render()}")
    visible = wait_visible(cloud.runtime_url, time.time(), ["dynamodb", "s3 archive"], 1800)
    return StreamRun(
        summary.accepted, max(visible.values()) - began, cpu.stop(summary.accepted), load_before
    )


def alternate(modes: tuple[str, str], rounds: int, measure: Callable[[str], dict]) -> list[dict]:
    runs: list[dict] = []
    for round_no in range(rounds):
        for mode in modes if round_no % 2 == 0 else tuple(reversed(modes)):
            print(f"  round {round_no + 1}: {mode} ...", file=sys.stderr)
            runs.append(measure(mode))
    return runs


def compare(
    runs: list[dict], modes: tuple[str, str], header: tuple[str, str], figures: Sequence[Figure]
) -> list[tuple[str, str, str, str]]:
    """Print one row per figure: the medians of A and B and the ratio B / A; returns the rows."""

    def median(mode: str, figure: Callable[[dict], float]) -> float:
        return statistics.median(figure(r) for r in runs if r["mode"] == mode)

    rows = []
    for label, figure in figures:
        base, other = median(modes[0], figure), median(modes[1], figure)
        rows.append(
            (label, f"{base:,.3f}", f"{other:,.3f}", f"{other / base:.3f}x" if base else "-")
        )
    columns = ("", *header, "ratio")
    width = [max(len(r[i]) for r in [*rows, columns]) for i in range(4)]
    for row in [columns, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, width)))
    return rows


def write_json(path: Path, runs: list[dict], rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs, "rows": rows}, indent=2))
