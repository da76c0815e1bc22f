"""`python -m bench cloud|stream|warehouse|batch|dynamodb|projector|ingest|all [--data PATH] [options]`.

Each benchmark is a module `bench.<name>` with `main(argv) -> int`; the data-driven ones (stream,
warehouse, batch) get `--data PATH`; other options go to the one benchmark named. Every benchmark prints its figures next to an in-run baseline
(a ratio), never a bare absolute timing. Every run also writes `.e2e/bench-report.html` (bench.report). A benchmark whose module does not exist yet prints
"not implemented yet" and the others still run; the exit code is 1 if one that exists failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import importlib.util
import sys
import time
import traceback
from pathlib import Path

BENCHMARKS = ("cloud", "stream", "warehouse", "batch", "lambda_logs", "dynamodb", "console", "projector",
              "durability")
SEPARATE = ("ingest",)
"""Run only by name: they need --baseline-tree."""
TAKES_DATA = {"stream", "warehouse", "batch", "lambda_logs", "dynamodb", "console", "durability"}


class _Tee(io.TextIOBase):
    """Prints as usual and keeps a copy for the HTML report."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_one(name: str, data: Path | None, extra: list[str] = (), runs: list | None = None) -> bool:
    began, tee = time.monotonic(), _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        ok = _run_one(name, data, extra)
    if runs is not None:
        runs.append({"name": name, "ok": ok, "seconds": time.monotonic() - began, "output": tee.copy.getvalue()})
    return ok


def _run_one(name: str, data: Path | None, extra: list[str] = ()) -> bool:
    print(f"\n=== bench {name} ===", flush=True)
    if importlib.util.find_spec(f"bench.{name}") is None:
        print(f"bench {name}: not implemented yet")
        return True
    argv = ["--data", str(data)] if data is not None and name in TAKES_DATA else []
    argv += list(extra)
    try:
        code = importlib.import_module(f"bench.{name}").main(argv)
    except SystemExit as exc:  # argparse errors inside the benchmark
        code = exc.code
    except Exception:  # noqa: BLE001 - one broken benchmark must not stop the others
        traceback.print_exc()
        code = 1
    if code not in (0, None):
        print(f"bench {name}: FAILED (exit {code})", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("which", choices=(*BENCHMARKS, *SEPARATE, "all"), help="benchmark to run")
    parser.add_argument(
        "--data", type=Path, help="dataset (.csv or .csv.gz) for stream/warehouse/batch/dynamodb"
    )
    args, extra = parser.parse_known_args(argv)
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if extra and args.which == "all":
        parser.error(
            f"options {' '.join(extra)} go to one benchmark: `python -m bench <name> {' '.join(extra)}`"
        )
    names = BENCHMARKS if args.which == "all" else (args.which,)
    started, runs = time.time(), []
    results = [run_one(name, args.data, extra, runs) for name in names]
    from bench.report import write

    print(f"\nreport: {write(runs, started)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
