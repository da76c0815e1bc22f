"""`python -m pipeline.client e2e`: replay a file through a running stack and reconcile every sink.

Steps: take the stack's endpoints from the environment; replay ROWS lines (computing the source
figures from the very events sent; `--check-only`: read them without sending, to reconcile sinks
that already hold the file, e.g. after `make down && make up` restored them); poll the sinks until
each agrees with the source or the timeout passes; optionally run the Glue batch job; print the
table, write .e2e/reconciliation.json, exit 1 on any mismatch. Endpoints: API_URL, API_KEY, AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_GLUE, WAREHOUSE_DSN, or WAREHOUSE_WORKGROUP + WAREHOUSE_DATABASE +
WAREHOUSE_SECRET_ARN for the Redshift Data API. `make e2e` exports them for the local stacks
(what `python -m emulation env` prints: the pipeline package never imports the emulator); on AWS
`python -m deploy env` exports them. A run that cannot read the warehouse fails, it never passes
unchecked.

Polling (`poll_sinks`): one loop of rounds over the sinks still behind, DynamoDB's full read
(two Scans) gated by a cheap read of the replay's last invoices (`sinks.read_invoice_tail`), and
one last full read of every sink still behind at the deadline. OK or mismatch is always decided
by a full read.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.reconcile import FigureBuilder, Figures, compare, report, table
from pipeline.source import SourceFile, read_events

from . import sinks
from .api import ApiError, EventsApi
from .replay import Progress, replay
from .report_html import write_run_report
from .run_record import RunRecord

STREAM_VIEW = "stream.sales_events_dedup"
BATCH_TABLE = "analytics.sales"


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
            dsn = self.warehouse_dsn
            return lambda: sinks.read_warehouse(scope, dsn, table)
        if self.warehouse_data_api:
            target = self.warehouse_data_api
            return lambda: sinks.read_warehouse_data_api(
                scope, target, table, endpoint=self.aws_endpoint, region=self.region
            )
        return None


def resolve_endpoints(stack: str, environ: dict[str, str] | None = None) -> Endpoints:
    env = dict(os.environ if environ is None else environ)
    if not env.get("API_URL") or not env.get("API_KEY"):
        where = (
            "`make e2e` exports them from the running local cloud (`make up` first), or "
            'eval "$(make -s env)"'
            if stack in ("embedded", "compose")
            else 'eval "$(python -m deploy env)" exports them from the stack outputs'
        )
        raise ApiError(f"no API_URL/API_KEY for stack {stack!r}: {where}")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    data_api_keys = ("WAREHOUSE_WORKGROUP", "WAREHOUSE_DATABASE", "WAREHOUSE_SECRET_ARN")
    data_api = (
        sinks.DataApiTarget(*(env[k] for k in data_api_keys))
        if all(env.get(k) for k in data_api_keys)
        else None
    )
    if stack == "aws" and not (env.get("WAREHOUSE_DSN") or data_api):
        raise ApiError(
            "no warehouse to check on AWS: set " + ", ".join(data_api_keys) + ' (eval "$(python -m '
            'deploy env)" exports them from the stack outputs); the e2e never passes unchecked'
        )
    return Endpoints(
        env["API_URL"],
        env["API_KEY"],
        env.get("AWS_ENDPOINT_URL"),
        region,
        env.get("WAREHOUSE_DSN"),
        env.get("AWS_ENDPOINT_URL_GLUE") or None,
        data_api,
        env.get("LOCALCLOUD_RUNTIME_URL") or None,
    )


def run(args) -> int:
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    endpoints = resolve_endpoints(args.stack)
    source = SourceFile.open(args.data)
    limit = None if args.rows == "all" else int(args.rows)
    check_only = getattr(args, "check_only", False)
    log(
        f"e2e: {'checking the sinks against' if check_only else 'replaying'} "
        f"{'all' if limit is None else limit} lines of {source.path} (ids {source.digest[:16]}:*) "
        f"{'without sending them' if check_only else 'to ' + endpoints.api_url}"
    )
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

    record = RunRecord(endpoints.runtime_url)
    record.sample_in_background()
    if check_only:  # the sinks already hold the file (an earlier run, a restored cloud)
        for _event in counted(read_events(source, limit=limit)):
            pass
        summary = None
    else:
        api = EventsApi(
            endpoints.api_url,
            endpoints.api_key,
            timeout_s=args.timeout,
            outage_s=getattr(args, "outage_wait", 120.0),
        )
        record.start("replay")
        try:
            summary = replay(
                api,
                counted(read_events(source, limit=limit)),
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                progress=Progress(limit),
            )
        finally:
            api.close()
            record.end("replay")
        log("replay: " + summary.render())
    if summary is not None and not summary.ok:
        log("e2e: the replay did not deliver every event; the sinks cannot reconcile. Stopping.")
        return 1
    expected = builder.figures()
    if expected.lines == 0:
        log("e2e: nothing to replay")
        return 1
    scope = sinks.Scope(source.digest[:16], span[0], span[-1])
    record.start("reconciliation")
    observed = wait_for_sinks(
        expected,
        scope,
        endpoints,
        timeout_s=args.sink_timeout,
        log=log,
        tail=tail.expected(),
        record=record,
    )
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
        batch_state = sinks.run_batch_job(
            endpoint=endpoints.aws_endpoint,
            region=endpoints.region,
            log=log,
            glue_endpoint=endpoints.glue_endpoint,
        )
        read_batch = endpoints.warehouse_reader(scope, BATCH_TABLE)
        observed["warehouse batch"] = read_batch() if read_batch else None
        record.end("batch job")
        if observed["warehouse batch"] is not None:
            record.add_point("warehouse batch", observed["warehouse batch"].lines)
    print(table(expected, observed))
    refused = sinks.read_refused_conflicts(
        scope, endpoint=endpoints.aws_endpoint, region=endpoints.region
    )
    log(
        f"e2e: conflicts refused at ingest: {refused} (events that reused one of these event ids "
        "with other content, event_claim); the conflicts row: ids a sink holds in two versions"
    )
    result = report(
        expected,
        observed,
        data=str(source.path),
        rows=args.rows,
        stack=args.stack,
        replay=summary.as_json() if summary is not None else None,
        batch_job=batch_state,
        conflicts_refused=refused,
        scope={
            "prefix": scope.prefix,
            "first_line": scope.first_line,
            "last_line": scope.last_line,
        },
        timings=record.timings(record.caught_up),
    )
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
    log(
        f"e2e: {'OK, every sink reconciles' if not mismatches else f'{len(mismatches)} mismatches'}; "
        f"figures in {out}"
    )
    return 0 if not mismatches else 1


def wait_for_sinks(
    expected: Figures,
    scope: sinks.Scope,
    endpoints: Endpoints,
    *,
    timeout_s: float,
    log,
    poll_s: float = 5.0,
    tail: dict[str, int] | None = None,
    record: RunRecord | None = None,
) -> dict[str, Figures | None]:
    """Poll each sink until it equals the source; at the deadline, read the ones still behind once more.

    `tail`: the replay's last invoices and their line counts (`sinks.InvoiceTail`); with it, the
    DynamoDB read is gated by `sinks.read_invoice_tail`."""
    where: dict[str, Any] = {"endpoint": endpoints.aws_endpoint, "region": endpoints.region}
    bucket = sinks.archive_bucket(**where)
    archive = sinks.ArchiveReader(scope, bucket, endpoints.aws_endpoint, endpoints.region)
    readers: dict[str, Callable[[], Figures]] = {
        "dynamodb": lambda: sinks.read_dynamodb(scope, **where),
        "s3 archive": archive.read,
    }
    read_stream = endpoints.warehouse_reader(scope, STREAM_VIEW)
    if read_stream:
        readers["warehouse stream"] = read_stream
    else:
        log("e2e: no WAREHOUSE_DSN or Data API target; the warehouse is not checked")
    gates = {"dynamodb": lambda: sinks.read_invoice_tail(scope, tail, **where)} if tail else {}
    polled = poll_sinks(expected, readers, gates=gates, timeout_s=timeout_s, log=log, poll_s=poll_s)
    if record is not None:
        record.caught_up = polled.caught_up
        for name, at, lines in polled.reads:
            record.series.setdefault(f"{name} (e2e reads)", []).append(
                (round(at - record.t0, 3), lines)
            )
    observed = polled.figures
    held = observed["s3 archive"]
    if held is not None and archive.lines > held.lines:
        log(
            f"e2e: the archive holds {archive.lines} lines for {held.lines} events "
            "(at-least-once redeliveries; counted once)"
        )
    return observed


@dataclass
class Polled:
    """What `poll_sinks` found."""

    figures: dict[str, Figures | None]
    """Each sink's last full read (None if none succeeded)."""
    caught_up: dict[str, float | None]
    """Clock time of the full read that found each sink equal to the source (None: never)."""
    reads: list[tuple[str, float, int]] = field(default_factory=list)
    """(sink, clock time, lines) of every full read: each sink's progress as the e2e saw it."""


def poll_sinks(
    expected: Figures,
    readers: dict[str, Callable[[], Figures]],
    *,
    timeout_s: float,
    log,
    gates: dict[str, Callable[[], sinks.TailCheck]] | None = None,
    poll_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Polled:
    """Rounds of full reads of the sinks still behind, until each equals the source or the deadline.

    A sink with a gate (DynamoDB: its full read is two Scans, minutes of the cloud's CPU on the
    full dataset) is read fully only once its gate says it may be complete; the gate can only
    postpone a read, the verdict is always a full read's. Rounds are spaced by max(poll_s, twice
    the last round), so reading takes at most about a third of the time. Once the deadline has
    passed, one last round reads every sink still behind fully, gate or not."""
    gates = gates or {}
    deadline = clock() + timeout_s
    polled = Polled(dict.fromkeys(readers), dict.fromkeys(readers))
    pending = sorted(readers)
    while True:
        started = clock()
        final = started >= deadline
        waiting: dict[str, str] = {}
        for name in list(pending):
            try:
                check = gates[name]() if name in gates and not final else None
                if check is not None and not check.complete:
                    waiting[name] = check.render()
                    continue
                figures = readers[name]()
            except Exception as exc:  # noqa: BLE001 - a sink not ready yet is reported, then polled again
                log(f"e2e: {name} not readable yet: {exc}")
                continue
            at = clock()
            polled.figures[name] = figures
            polled.reads.append((name, at, figures.lines))
            if not compare(expected, {name: figures}):
                polled.caught_up[name] = at
                pending.remove(name)
        if not pending:
            return polled

        def behind(name: str, waiting: dict[str, str] = waiting) -> str:
            held = polled.figures[name]
            lines = f"{held.lines if held else 0}/{expected.lines} lines"
            if name in waiting:
                return f"{lines + ' at the last full read' if held else 'no full read yet'}; {waiting[name]}"
            return lines

        status = ", ".join(f"{name} ({behind(name)})" for name in pending)
        if final:
            log(
                f"e2e: timed out after {timeout_s:.0f} s; still behind at a last full read: {status}"
            )
            return polled
        log(f"e2e: waiting for {status}")
        sleep(max(0.0, min(max(poll_s, 2 * (clock() - started)), deadline - clock())))
