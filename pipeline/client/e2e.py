"""`python -m pipeline.client e2e`: replay a file through a running stack and reconcile every sink.

Steps: resolve the stack's endpoints; replay ROWS lines (computing the source figures from the
very events sent); poll the sinks until each agrees with the source or the timeout passes;
optionally run the Glue batch job; print the table, write .e2e/reconciliation.json, exit 1 on any
mismatch. Endpoints come from the environment (API_URL, API_KEY, AWS_ENDPOINT_URL,
WAREHOUSE_DSN) or, for the local stacks, from `python -m emulation env` (a subprocess: the
pipeline package never imports the emulator).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.reconcile import FigureBuilder, Figures, compare, report, table
from pipeline.source import SourceFile, read_events

from . import sinks
from .api import ApiError, EventsApi
from .replay import Progress, replay

REPO_ROOT = Path(__file__).resolve().parents[2]
STREAM_VIEW = "stream.sales_events_dedup"
BATCH_TABLE = "analytics.sales"


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    api_key: str
    aws_endpoint: str | None
    region: str
    warehouse_dsn: str | None


def resolve_endpoints(stack: str, environ: dict[str, str] | None = None) -> Endpoints:
    env = dict(os.environ if environ is None else environ)
    if stack in ("embedded", "compose") and not (env.get("API_URL") and env.get("API_KEY")):
        env = {**_local_cloud_env(stack), **{k: v for k, v in env.items() if v}}
    if not env.get("API_URL") or not env.get("API_KEY"):
        raise ApiError(
            f"no API_URL/API_KEY for stack {stack!r}: set them (eval \"$(make -s env)\" for the local "
            "cloud; the stack's outputs for AWS)"
        )
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return Endpoints(env["API_URL"], env["API_KEY"], env.get("AWS_ENDPOINT_URL"), region,
                     env.get("WAREHOUSE_DSN"))


def _local_cloud_env(stack: str) -> dict[str, str]:
    cmd = [sys.executable, "-m", "emulation", "env", "--stack", stack]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ApiError(
            f"the local cloud is not running ({' '.join(cmd[1:])} said: "
            f"{(done.stderr or done.stdout).strip()[:300]}); start it with: make up"
        )
    values: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    os.environ.update({k: v for k, v in values.items() if k.startswith("AWS_")})  # for boto3
    return values


def run(args) -> int:
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    endpoints = resolve_endpoints(args.stack)
    source = SourceFile.open(args.data)
    limit = None if args.rows == "all" else int(args.rows)
    log(f"e2e: replaying {'all' if limit is None else limit} lines of {source.path} "
        f"(ids {source.digest[:16]}:*) to {endpoints.api_url}")
    builder = FigureBuilder()
    span: list[int] = []  # first and last replayed line numbers

    def counted(events):
        """The source figures are taken from the very events that are sent."""
        for event in events:
            builder.add_event(event)
            if not span:
                span.append(event.line_number)
            span[1:] = [event.line_number]
            yield event

    api = EventsApi(endpoints.api_url, endpoints.api_key, timeout_s=args.timeout)
    try:
        summary = replay(api, counted(read_events(source, limit=limit)), batch_size=args.batch_size,
                         concurrency=args.concurrency, progress=Progress(limit))
    finally:
        api.close()
    log("replay: " + summary.render())
    if not summary.ok:
        log("e2e: the replay did not deliver every event; the sinks cannot reconcile. Stopping.")
        return 1
    expected = builder.figures()
    if expected.lines == 0:
        log("e2e: nothing to replay")
        return 1
    scope = sinks.Scope(source.digest[:16], span[0], span[-1])
    observed = wait_for_sinks(expected, scope, endpoints, timeout_s=args.sink_timeout, log=log)
    # A sink that was not checked is reported as null (docs/events.md), not left out.
    observed.setdefault("warehouse stream", None)
    observed["warehouse batch"] = None
    batch_state = None
    if args.batch:
        batch_state = sinks.run_batch_job(endpoint=endpoints.aws_endpoint, region=endpoints.region, log=log)
        observed["warehouse batch"] = (
            sinks.read_warehouse(scope, endpoints.warehouse_dsn, BATCH_TABLE)
            if endpoints.warehouse_dsn else None
        )
    print(table(expected, observed))
    result = report(expected, observed, data=str(source.path), rows=args.rows, stack=args.stack,
                    replay=summary.as_json(), batch_job=batch_state,
                    scope={"prefix": scope.prefix, "first_line": scope.first_line, "last_line": scope.last_line})
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    mismatches = compare(expected, observed)
    for m in mismatches:
        log(f"MISMATCH {m}")
    if batch_state not in (None, "SUCCEEDED"):
        log(f"e2e: the batch job ended {batch_state}")
        return 1
    log(f"e2e: {'OK, every sink reconciles' if not mismatches else f'{len(mismatches)} mismatches'}; "
        f"figures in {out}")
    return 0 if not mismatches else 1


def wait_for_sinks(expected: Figures, scope: sinks.Scope, endpoints: Endpoints, *, timeout_s: float,
                   log, poll_s: float = 5.0) -> dict[str, Figures | None]:
    """Poll each sink until it equals the source; at the deadline, return what each holds."""
    bucket = sinks.archive_bucket(endpoint=endpoints.aws_endpoint, region=endpoints.region)
    archive = sinks.ArchiveReader(scope, bucket, endpoints.aws_endpoint, endpoints.region)
    readers: dict[str, Any] = {
        "dynamodb": lambda: sinks.read_dynamodb(scope, endpoint=endpoints.aws_endpoint, region=endpoints.region),
        "s3 archive": archive.read,
    }
    if endpoints.warehouse_dsn:
        readers["warehouse stream"] = lambda: sinks.read_warehouse(scope, endpoints.warehouse_dsn, STREAM_VIEW)
    else:
        log("e2e: no WAREHOUSE_DSN; the warehouse is not checked")
    observed: dict[str, Figures | None] = {name: None for name in readers}
    pending = set(readers)
    deadline = time.monotonic() + timeout_s
    while pending:
        for name in sorted(pending):
            try:
                observed[name] = readers[name]()
            except Exception as exc:  # noqa: BLE001 - a sink not ready yet is reported, then polled again
                log(f"e2e: {name} not readable yet: {exc}")
                continue
            if not compare(expected, {name: observed[name]}):
                pending.discard(name)
        if not pending:
            break
        behind = ", ".join(
            f"{n} ({observed[n].lines if observed[n] else 0}/{expected.lines} lines)" for n in sorted(pending)
        )
        if time.monotonic() >= deadline:
            log(f"e2e: timed out after {timeout_s:.0f} s; still behind: {behind}")
            break
        log(f"e2e: waiting for {behind}")
        time.sleep(poll_s)
    if archive.lines > (observed["s3 archive"].lines if observed["s3 archive"] else 0):
        log(f"e2e: the archive holds {archive.lines} lines for {observed['s3 archive'].lines} events "
            "(at-least-once redeliveries; counted once)")
    return observed
