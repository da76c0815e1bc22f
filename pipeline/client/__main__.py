"""`python -m pipeline.client` (also the `replay` console script).

    replay FILE   send the file's sale lines to POST /events (batches, concurrency, pacing, retries)
    e2e           replay through a running stack, wait for every sink, reconcile (make e2e)
    redrive       list the batches the stream consumers gave up on; deliver them again (make redrive)

API_URL / API_KEY default from the environment: for the local cloud, eval "$(make -s env)".
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from pipeline.source import RowError, SourceError, SourceFile, read_events

from .api import OUTAGE_S, ApiError, EventsApi
from .replay import Pacer, Progress, replay


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _seconds(text: str) -> float:
    """A duration: finite and not negative (0 means do not wait)."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _rows(text: str) -> str:
    if text != "all" and not text.isdigit():
        raise argparse.ArgumentTypeError(f"ROWS must be a number or 'all', got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.client", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--batch-size",
        type=_at_least_one,
        default=500,
        help="events per request, 1..500 (default 500)",
    )
    common.add_argument(
        "--concurrency", type=_at_least_one, default=4, help="requests in flight (default 4)"
    )
    common.add_argument(
        "--timeout", type=_positive_seconds, default=30.0, help="seconds per request (default 30)"
    )
    common.add_argument(
        "--outage-wait",
        type=_seconds,
        default=OUTAGE_S,
        metavar="SECONDS",
        help="once the API has answered, how long a batch waits for it when it refuses "
        f"connections (a restart of the local cloud), default {OUTAGE_S:.0f}",
    )

    rp = sub.add_parser("replay", parents=[common], help="send a CSV file's sale lines to the API")
    rp.add_argument("file", help="the Online Retail CSV (.csv or .csv.gz, latin-1)")
    rp.add_argument(
        "--api-url", default=os.environ.get("API_URL"), help="stage URL (default: $API_URL)"
    )
    rp.add_argument(
        "--api-key", default=os.environ.get("API_KEY"), help="API key (default: $API_KEY)"
    )
    pace = rp.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="events per second (average)")
    pace.add_argument("--speedup", type=float, help="replay the shop's timeline X times faster")
    rp.add_argument("--limit", type=_positive_int, help="send at most N sale lines")
    rp.add_argument("--skip", type=_positive_int, default=0, help="skip the first N sale lines")
    rp.add_argument(
        "--keep-going",
        action="store_true",
        help="report lines that break the event rules and go on (default: stop at the first)",
    )

    e2e = sub.add_parser(
        "e2e", parents=[common], help="replay through a running stack and reconcile"
    )
    e2e.add_argument("--data", required=True, help="the CSV file to replay")
    e2e.add_argument("--rows", type=_rows, default="all", help="N or 'all' (default all)")
    e2e.add_argument("--stack", choices=("embedded", "compose", "aws"), default="embedded")
    e2e.add_argument(
        "--json-out", default=".e2e/reconciliation.json", help="where to write the figures"
    )
    e2e.add_argument(
        "--sink-timeout",
        type=_positive_seconds,
        default=600.0,
        help="seconds to wait for the sinks to catch up (default 600)",
    )
    e2e.add_argument(
        "--check-only",
        action="store_true",
        help="do not replay: reconcile sinks that already hold the file (after a restore)",
    )
    e2e.add_argument(
        "--batch",
        action="store_true",
        help="also run the Glue job sales-batch-load and reconcile analytics.sales",
    )
    rd = sub.add_parser(
        "redrive", help="list the mappings' on-failure queues and deliver those records again"
    )
    rd.add_argument("--stack", choices=("embedded", "compose", "aws"), default="embedded")
    rd.add_argument(
        "--dry-run",
        action="store_true",
        help="list the failed batches and check their records are still readable; change nothing",
    )
    rd.add_argument("--queue", help="only this on-failure queue (default: every mapping's)")
    rd.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="invocations per piece before a batch is kept as still failing (default 3)",
    )
    return parser


def cmd_replay(args) -> int:
    source = SourceFile.open(args.file)
    problems: list[RowError] = []
    events = read_events(
        source,
        skip=args.skip,
        limit=args.limit,
        on_error=problems.append if args.keep_going else None,
    )
    api = EventsApi(
        args.api_url,
        args.api_key,
        timeout_s=args.timeout,
        pool_size=args.concurrency,
        outage_s=args.outage_wait,
    )
    try:
        summary = replay(
            api,
            events,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            pacer=Pacer(rate=args.rate, speedup=args.speedup),
            progress=Progress(args.limit),
        )
    finally:
        api.close()
    print(summary.render())
    for problem in problems[:20]:
        print(f"skipped {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} lines broke the event rules and were not sent", file=sys.stderr)
    return 0 if summary.ok and not problems else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "redrive":
            from . import redrive

            return redrive.run(args)
        from . import e2e

        return e2e.run(args)
    except (ApiError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
