"""Benchmark: CPU per event of the projector (sales-projector), and of the DynamoDB it talks to.

    python -m bench projector [--data PATH] [--limit N] [--batch 1000] [--rounds 3]
                              [--baseline-tree DIR]

The events of --data (default: the sample) are given to the projector's handler (loaded by the
description's handler string, as the Lambda runtime loads it) in batches of the mapping's size, against a private patched moto
server (`emulation.moto.server`, the local cloud's own). Each measurement runs in a subprocess on
fresh tables and reports, per event: the projector's CPU (that process, every thread: decoding,
merging, cutting into items, boto3) and the moto server's CPU over the same interval (its
/proc/<pid>/stat), which on the local cloud is the shared bottleneck.

In-run baseline: with --baseline-tree, the same measurement with the `pipeline` package of that
tree (e.g. main's: `git archive main pipeline | tar -x -C /tmp/main-tree`), its own table schema,
alternated round by round with this tree's so machine load hits both alike; without it, the floor
of the work: decoding the records alone (`decode_record`, no DynamoDB at all).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "ecommerce-sample.csv.gz"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _records(data: Path, limit: int | None) -> list[bytes]:
    from pipeline.source import SourceFile, read_events

    return [e.to_record_bytes() for e in read_events(SourceFile.open(data), limit=limit)]


def _kinesis_records(datas: list[bytes], first: int) -> list[dict]:
    import base64

    return [{"eventID": f"shardId-000000000000:{first + i}", "kinesis": {
        "data": base64.b64encode(d).decode(), "sequenceNumber": str(first + i),
        "partitionKey": json.loads(d)["invoice_no"]}} for i, d in enumerate(datas)]


def described_handler(function: str, endpoint: str, environment: dict[str, str]):
    """The function's handler as the Lambda runtime loads it: by the description's handler string
    (benchmarks stay on their side of the ship line: they import no handler module), with the
    environment and the endpoint a local Lambda worker gets."""
    import pkgutil

    import boto3

    from pipeline.resources import PIPELINE

    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", **environment)
    boto3.setup_default_session()
    return pkgutil.resolve_name(PIPELINE.function(function).handler)


def create_tables(endpoint: str, tag: str) -> dict[str, str]:
    """The described tables (this tree's key schema), under names of their own: name -> physical."""
    import boto3

    from pipeline.resources import PIPELINE

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    names = {}
    for table in PIPELINE.tables:
        names[table.name] = f"bench-{tag}-{table.name}"
        keys = [(table.partition_key, "HASH")] + ([(table.sort_key, "RANGE")] if table.sort_key else [])
        client.create_table(TableName=names[table.name], BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k in keys],
                            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys])
    return names


def measure(endpoint: str, moto_pid: int, data: Path, limit: int | None, batch: int, tag: str) -> dict:
    """One run, in this process: fresh tables, every batch projected once; CPU seconds per event."""
    names = create_tables(endpoint, tag)
    handler = described_handler("sales-projector", endpoint, {"INVOICE_TABLE": names["invoice"],
                                                              "CUSTOMER_TABLE": names["customer"]})
    datas = _records(data, limit)
    batches = [_kinesis_records(datas[i:i + batch], i + 1) for i in range(0, len(datas), batch)]
    handler({"Records": _kinesis_records(datas[:1], 0)}, None)  # warm: imports, client, thread pool
    started, moto_started, wall = _self_cpu(), _cpu_of(moto_pid), time.perf_counter()
    for records in batches:
        failed = handler({"Records": records}, None)["batchItemFailures"]
        if failed:
            raise RuntimeError(f"the projector reported {len(failed)} failed records")
    projector_s, moto_s = _self_cpu() - started, _cpu_of(moto_pid) - moto_started
    return {"events": len(datas), "projector_ms": 1000 * projector_s / len(datas),
            "moto_ms": 1000 * moto_s / len(datas), "wall_s": time.perf_counter() - wall}


def measure_decode(data: Path, limit: int | None, batch: int) -> dict:
    """The floor: what every consumer does per record before any DynamoDB call."""
    import base64

    from pipeline.events import SaleEvent

    datas = _records(data, limit)
    records = _kinesis_records(datas, 1)
    started = _self_cpu()
    for record in records:
        SaleEvent.from_record(base64.b64decode(record["kinesis"]["data"], validate=True))
    return {"events": len(datas), "projector_ms": 1000 * (_self_cpu() - started) / len(datas),
            "moto_ms": 0.0, "wall_s": 0.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_child(module: str, tree: Path | None, args: list[str]) -> dict:
    env = dict(os.environ)
    # The measured tree's `pipeline` first (`-m` puts the working directory first on sys.path),
    # this tree's `bench` and `emulation` after it.
    env["PYTHONPATH"] = os.pathsep.join(([str(tree)] if tree else []) + [str(REPO)])
    done = subprocess.run([sys.executable, "-m", module, *args], env=env,
                          capture_output=True, text=True, cwd=tree or REPO, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"measurement failed ({tree or 'this tree'}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_trees(module: str, what: str, args) -> int:
    """Start a moto server, alternate `args.rounds` runs of `module --child` for the baseline (the
    tree `args.baseline_tree`, or this tree's "decode" kind) and for this tree; print the best
    round of each and their ratio."""
    port = _free_port()
    limit = str(args.limit) if args.limit else "0"
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "moto.log", "w")  # noqa: SIM115 - closed below
        moto = subprocess.Popen([sys.executable, "-m", "emulation.moto.server", "--port", str(port)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the moto server did not start") from None
                    time.sleep(0.2)
            common = ["--data", str(args.data), "--batch", str(args.batch), "--limit", limit]
            baseline_name = str(args.baseline_tree) if args.baseline_tree else "decode only"
            results: dict[str, list[dict]] = {"this tree": [], baseline_name: []}
            for n in range(args.rounds):
                for name, tree, kind in ((baseline_name, args.baseline_tree,
                                          "run" if args.baseline_tree else "decode"),
                                         ("this tree", None, "run")):
                    tag = f"{'base' if name != 'this tree' else 'this'}-{n}"
                    results[name].append(_run_child(module, tree, [*common, "--child", endpoint,
                                                                   str(moto.pid), tag, kind]))
        finally:
            moto.terminate()
            moto.wait(timeout=30)
            log.close()
    events = results["this tree"][0]["events"]
    print(f"{what}: CPU per event over {events} events, batches of {args.batch}, "
          f"best of {args.rounds} rounds (alternated):")
    best = {name: min(runs, key=lambda r: r["projector_ms"] + r["moto_ms"]) for name, runs in results.items()}
    for name, r in best.items():
        print(f"  {name:>30}: {what} {r['projector_ms']:.3f} ms/event, moto {r['moto_ms']:.3f} ms/event")
    base, this = best[baseline_name], best["this tree"]
    print(f"  ratio this/baseline: {what} {this['projector_ms'] / base['projector_ms']:.2f}x"
          + (f", moto {this['moto_ms'] / base['moto_ms']:.2f}x, both "
             f"{(this['projector_ms'] + this['moto_ms']) / (base['projector_ms'] + base['moto_ms']):.2f}x"
             if base["moto_ms"] else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench projector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SAMPLE.resolve())
    parser.add_argument("--limit", type=int, default=None, help="first N events only")
    parser.add_argument("--batch", type=int, default=1000, help="records per invocation (the mapping's 1,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="a tree whose `pipeline` is the baseline")
    parser.add_argument("--child", nargs=4, metavar=("ENDPOINT", "MOTO_PID", "TAG", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        endpoint, pid, tag, kind = args.child
        lim = args.limit or None
        result = (measure_decode(args.data, lim, args.batch) if kind == "decode"
                  else measure(endpoint, int(pid), args.data, lim, args.batch, tag))
        print(json.dumps(result))
        return 0
    return compare_trees("bench.projector", "projector", args)


if __name__ == "__main__":
    sys.exit(main())
