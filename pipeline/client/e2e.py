"""`python -m pipeline.client e2e`: replay a file through a running stack and reconcile every sink.

Steps: resolve the stack's endpoints; replay ROWS lines (computing the source figures from the
very events sent); poll the sinks until each agrees with the source or the timeout passes;
optionally run the Glue batch job; print the table, write .e2e/reconciliation.json, exit 1 on any
mismatch. Endpoints come from the environment (API_URL, API_KEY, AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_GLUE, WAREHOUSE_DSN, or WAREHOUSE_WORKGROUP + WAREHOUSE_DATABASE +
WAREHOUSE_SECRET_ARN for the Redshift Data API) or, for the local stacks, from `python -m emulation
env` (a subprocess: the pipeline package never imports the emulator). On AWS the warehouse is read
through the Data API (`python -m deploy env` exports its target); a run that cannot read the
warehouse fails, it never passes unchecked.

Polling (`poll_sinks`): a round reads every sink still behind. Reading DynamoDB back is a full
Scan of both tables, so it is gated by a cheap check of the replay's last
invoices (`sinks.read_invoice_tail`): while one of them lacks lines the full read is skipped. The
gate can only postpone a full read; OK or mismatch is always decided by one. Rounds are spaced
by at least max(poll_s, 2 x the last round's duration), so reading takes at most about a third of
the time, and a round starts only if twice its estimated duration fits before the deadline; the
last round that fits reads every sink fully. At the deadline each sink is reported as its last
full read found it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.reconcile import FigureBuilder, Figures, compare, report, table
from pipeline.source import SourceFile, read_events

from . import sinks
from .api import ApiError, EventsApi
from .replay import Progress, replay
from .report_html import write_run_report
from .run_record import RunRecord

REPO_ROOT = Path(__file__).resolve().parents[2]
STREAM_VIEW = "stream.sales_events_dedup"
BATCH_TABLE = "analytics.sales"
MARGIN = 2.0
"""A round starts only if MARGIN times its estimated duration fits before the deadline."""


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    api_key: str
    aws_endpoint: str | None
    region: str
    warehouse_dsn: str | None
    glue_endpoint: str | None = None
    """`AWS_ENDPOINT_URL_GLUE`: where Glue is served when not at `aws_endpoint` (compose)."""
    warehouse_data_api: sinks.DataApiTarget | None = None
    """The Redshift Data API target (AWS), used when there is no `warehouse_dsn`."""
    runtime_url: str | None = None
    """`LOCALCLOUD_RUNTIME_URL`: the local cloud's runtime, whose counters chart each sink's progress."""

    def warehouse_reader(self, scope: sinks.Scope, table: str) -> Callable[[], Figures] | None:
        """How to read `table`'s figures: DSN, else the Data API, else None (not checkable)."""
        if self.warehouse_dsn:
            return lambda: sinks.read_warehouse(scope, self.warehouse_dsn, table)
        if self.warehouse_data_api:
            return lambda: sinks.read_warehouse_data_api(
                scope, self.warehouse_data_api, table, endpoint=self.aws_endpoint, region=self.region)
        return None


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
    data_api_keys = ("WAREHOUSE_WORKGROUP", "WAREHOUSE_DATABASE", "WAREHOUSE_SECRET_ARN")
    data_api = (sinks.DataApiTarget(*(env[k] for k in data_api_keys))
                if all(env.get(k) for k in data_api_keys) else None)
    if stack == "aws" and not (env.get("WAREHOUSE_DSN") or data_api):
        raise ApiError(
            "no warehouse to check on AWS: set " + ", ".join(data_api_keys) + ' (eval "$(python -m '
            'deploy env)" exports them from the stack outputs); the e2e never passes unchecked'
        )
    return Endpoints(env["API_URL"], env["API_KEY"], env.get("AWS_ENDPOINT_URL"), region,
                     env.get("WAREHOUSE_DSN"), env.get("AWS_ENDPOINT_URL_GLUE") or None, data_api,
                     env.get("LOCALCLOUD_RUNTIME_URL") or None)


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
    tail = sinks.InvoiceTail()
    span: list[int] = []  # first and last replayed line numbers

    def counted(events):
        """The source figures are taken from the very events that are sent."""
        for event in events:
            builder.add_event(event)
            tail.add(event.invoice_no)
            if not span:
                span.append(event.line_number)
            span[1:] = [event.line_number]
            yield event

    api = EventsApi(endpoints.api_url, endpoints.api_key, timeout_s=args.timeout)
    record = RunRecord(endpoints.runtime_url)
    record.sample_in_background()
    record.start("replay")
    try:
        summary = replay(api, counted(read_events(source, limit=limit)), batch_size=args.batch_size,
                         concurrency=args.concurrency, progress=Progress(limit))
    finally:
        api.close()
        record.end("replay")
    log("replay: " + summary.render())
    if not summary.ok:
        log("e2e: the replay did not deliver every event; the sinks cannot reconcile. Stopping.")
        return 1
    expected = builder.figures()
    if expected.lines == 0:
        log("e2e: nothing to replay")
        return 1
    scope = sinks.Scope(source.digest[:16], span[0], span[-1])
    record.start("reconciliation")
    observed = wait_for_sinks(expected, scope, endpoints, timeout_s=args.sink_timeout, log=log,
                              tail=tail.expected(), record=record)
    record.end("reconciliation")
    record.stop_sampling()
    # A checked sink that could never be read has no figures; compare() would skip it as unchecked.
    unread = sorted(name for name, figures in observed.items() if figures is None)
    # A sink that was not checked is reported as null (docs/events.md), not left out.
    observed.setdefault("warehouse stream", None)
    observed["warehouse batch"] = None
    batch_state = None
    if args.batch:
        record.start("batch job")
        batch_state = sinks.run_batch_job(endpoint=endpoints.aws_endpoint, region=endpoints.region, log=log,
                                          glue_endpoint=endpoints.glue_endpoint)
        read_batch = endpoints.warehouse_reader(scope, BATCH_TABLE)
        observed["warehouse batch"] = read_batch() if read_batch else None
        record.end("batch job")
        if observed["warehouse batch"] is not None:
            record.add_point("warehouse batch", observed["warehouse batch"].lines)
    print(table(expected, observed))
    refused = sinks.read_refused_conflicts(scope, endpoint=endpoints.aws_endpoint, region=endpoints.region)
    log(f"e2e: conflicts refused at ingest: {refused} (events that reused one of these event ids "
        "with other content, event_claim); the conflicts row: ids a sink holds in two versions")
    result = report(expected, observed, data=str(source.path), rows=args.rows, stack=args.stack,
                    replay=summary.as_json(), batch_job=batch_state, conflicts_refused=refused,
                    scope={"prefix": scope.prefix, "first_line": scope.first_line, "last_line": scope.last_line},
                    timings=record.timings(record.caught_up))
    if unread:
        result["ok"] = False
        result["unread"] = unread
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    html = write_run_report(out.with_name("report.html"), result, record, summary, scope, endpoints)
    log(f"e2e: run report in {html}")
    mismatches = compare(expected, observed)
    for m in mismatches:
        log(f"MISMATCH {m}")
    for name in unread:
        log(f"e2e: {name} could not be read before the sink timeout; it does not reconcile")
    if batch_state not in (None, "SUCCEEDED"):
        log(f"e2e: the batch job ended {batch_state}")
        return 1
    if unread:
        log(f"e2e: {len(mismatches)} mismatches, {len(unread)} sinks unread; figures in {out}")
        return 1
    log(f"e2e: {'OK, every sink reconciles' if not mismatches else f'{len(mismatches)} mismatches'}; "
        f"figures in {out}")
    return 0 if not mismatches else 1


def wait_for_sinks(expected: Figures, scope: sinks.Scope, endpoints: Endpoints, *, timeout_s: float,
                   log, poll_s: float = 5.0, tail: dict[str, int] | None = None,
                   record: RunRecord | None = None) -> dict[str, Figures | None]:
    """Poll each sink until it equals the source; at the deadline, return what each last held.

    `tail`: the replay's last invoices and their line counts (`sinks.InvoiceTail`); with it, the
    DynamoDB read is gated by `sinks.read_invoice_tail`."""
    where = {"endpoint": endpoints.aws_endpoint, "region": endpoints.region}
    bucket = sinks.archive_bucket(**where)
    archive = sinks.ArchiveReader(scope, bucket, endpoints.aws_endpoint, endpoints.region)
    walked: dict[str, int] = {}  # items the last DynamoDB read walked, per table
    read_dynamodb = lambda: sinks.read_dynamodb(scope, counts=walked, **where)
    polled = [
        GatedSink("dynamodb", read_dynamodb, lambda: sinks.read_invoice_tail(scope, tail, **where),
                  items=lambda: sum(walked.values()))
        if tail else PolledSink("dynamodb", read_dynamodb),
        PolledSink("s3 archive", archive.read),
    ]
    read_stream = endpoints.warehouse_reader(scope, STREAM_VIEW)
    if read_stream:
        polled.append(PolledSink("warehouse stream", read_stream))
    else:
        log("e2e: no WAREHOUSE_DSN or Data API target; the warehouse is not checked")
    observed = poll_sinks(expected, polled, timeout_s=timeout_s, log=log, poll_s=poll_s)
    if record is not None:
        record.caught_up = {sink.name: sink.reconciled_at for sink in polled}
        for sink in polled:
            for at, lines in sink.points:
                record.series.setdefault(f"{sink.name} (e2e reads)", []).append((round(at - record.t0, 3), lines))
    if archive.lines > (observed["s3 archive"].lines if observed["s3 archive"] else 0):
        log(f"e2e: the archive holds {archive.lines} lines for {observed['s3 archive'].lines} events "
            "(at-least-once redeliveries; counted once)")
    return observed


class PolledSink:
    """A sink as `poll_sinks` sees it: `read()` returns its exact figures (a full read)."""

    def __init__(self, name: str, read: Callable[[], Figures], *,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self._read = read
        self._clock = clock
        self.figures: Figures | None = None
        """What the last full read found (None before the first one succeeds)."""
        self.read_at: float | None = None
        """Clock time the last full read ended."""
        self.read_s = 0.0
        """Duration of the last full read."""
        self.points: list[tuple[float, int]] = []
        """(clock time, lines) of every full read: the sink's progress as the e2e saw it."""
        self.reconciled_at: float | None = None
        """Clock time of the full read that found the sink equal to the source."""

    def poll(self, *, final: bool) -> bool:
        """Read the sink; True when `figures` were read in this call. `final`: the last round that
        fits before the deadline (a full read is due)."""
        started = self._clock()
        figures = self._read()
        self.read_at = self._clock()
        self.read_s = self.read_at - started
        self.figures = figures
        self.points.append((self.read_at, figures.lines))
        return True

    def estimate(self, expected: Figures) -> float:
        """Seconds the next poll may take, at worst."""
        return self.read_s

    def behind(self, expected: Figures) -> str:
        return f"{self.figures.lines if self.figures else 0}/{expected.lines} lines"


class GatedSink(PolledSink):
    """A sink whose full read is expensive (DynamoDB's Scans): `gate()` runs first and the full read
    only if the gate says the sink may be complete (a Scan while the projector is still busy costs
    the cloud minutes on the full dataset). A final round reads fully without asking, so the
    figures reported are never the gate's."""

    def __init__(self, name: str, read: Callable[[], Figures], gate: Callable[[], sinks.TailCheck], *,
                 items: Callable[[], int] | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(name, read, clock=clock)
        self._gate = gate
        self._items = items
        """Items the last full read walked (every scope), for `estimate`; None: no growth assumed."""
        self.check: sinks.TailCheck | None = None
        self.gate_s = 0.0
        self.gated = False
        """The last poll stopped at the gate: `figures` are older than that poll."""
        self.full_reads = 0
        self.gate_checks = 0

    def poll(self, *, final: bool) -> bool:
        if not final:
            started = self._clock()
            try:
                self.check = self._gate()
                self.gate_checks += 1
            finally:
                self.gate_s = self._clock() - started
            if not self.check.complete:
                self.gated = True
                return False
        self.gated = False
        fresh = super().poll(final=final)
        self.full_reads += 1
        return fresh

    def estimate(self, expected: Figures) -> float:
        """The gate plus a full read. A Scan costs about its items, and the tables will still gain
        the invoice and customer items the source has and the last full read did not find: the
        last full read's duration is scaled by that growth (at most 10x; a scheduling guess, which
        never decides a result)."""
        if self.read_at is None:
            # Never read fully: no cost to scale from (the gate's is mostly per request, and a guess
            # from it kept a full-dataset run from ever polling). The final read may then end past
            # the deadline by its own duration; the deadline bounds waiting, not the verdict.
            return self.gate_s
        growth = 1.0
        if self._items is not None:
            held = self.figures or Figures()
            walked = self._items()
            coming = (max(0, expected.invoices - held.invoices)
                      + max(0, expected.customers - held.customers))
            growth = min(10.0, (walked + coming) / max(walked, 1))
        return self.gate_s + self.read_s * max(1.0, growth)

    def behind(self, expected: Figures) -> str:
        if self.gated and self.check is not None:
            seen = (f"{super().behind(expected)} at the last full read" if self.read_at is not None
                    else "no full read yet")
            return f"{seen}; {self.check.render()}"
        return super().behind(expected)


@dataclass(frozen=True)
class NextRound:
    wait_s: float
    final: bool
    """No round would fit after this one: gated sinks read fully."""


def plan_next(now: float, deadline: float, *, poll_s: float, last_round_s: float, estimate_s: float,
              margin: float = MARGIN) -> NextRound | None:
    """When the next round starts and whether it is the last; None when no round fits any more.

    The wait is max(poll_s, 2 x the last round's duration), so reading takes at most about a third
    of the time; a round starts only if `margin` x `estimate_s` (its worst case) still fits before
    the deadline. It is final when the round after it (after its own wait) would not fit."""
    wait = max(poll_s, 2 * last_round_s)
    latest = deadline - margin * estimate_s
    start = now + wait
    if start > latest:
        return None
    following = start + estimate_s + max(poll_s, 2 * estimate_s)
    return NextRound(wait, following > latest)


def poll_sinks(expected: Figures, polled: list[PolledSink], *, timeout_s: float, log, poll_s: float = 5.0,
               margin: float = MARGIN, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Figures | None]:
    """Rounds of reads until every sink equals the source or no further round fits the deadline.

    A sink leaves the rounds only when a full read of it equals the source; the figures returned
    are each sink's last full read (None if none succeeded)."""
    deadline = clock() + timeout_s
    pending = {sink.name: sink for sink in polled}
    final = False
    while True:
        round_started = clock()
        for name in sorted(pending):
            sink = pending[name]
            try:
                fresh = sink.poll(final=final)
            except Exception as exc:  # noqa: BLE001 - a sink not ready yet is reported, then polled again
                log(f"e2e: {name} not readable yet: {exc}")
                continue
            if fresh and sink.figures is not None and not compare(expected, {name: sink.figures}):
                sink.reconciled_at = sink.read_at
                del pending[name]
        if not pending:
            break
        now = clock()
        behind = ", ".join(f"{n} ({pending[n].behind(expected)})" for n in sorted(pending))
        plan = plan_next(now, deadline, poll_s=poll_s, last_round_s=now - round_started,
                         estimate_s=sum(sink.estimate(expected) for sink in pending.values()),
                         margin=margin)
        if plan is None:
            if now >= deadline:
                log(f"e2e: timed out after {timeout_s:.0f} s; still behind: {behind}")
            else:
                log(f"e2e: timed out: another round would not end well within the {timeout_s:.0f} s "
                    f"sink timeout ({deadline - now:.0f} s left); still behind: {behind}")
            for name in sorted(pending):
                read_at = pending[name].read_at
                if read_at is not None and read_at < round_started:
                    log(f"e2e: {name} is reported as its last full read found it, "
                        f"{now - read_at:.0f} s before the end")
            break
        log(f"e2e: waiting for {behind}")
        sleep(plan.wait_s)
        final = plan.final
    return {sink.name: sink.figures for sink in polled}
