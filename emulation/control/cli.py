"""`python -m emulation` (`make up|down|status|env|logs`): drive the embedded local cloud.

    up         start moto, the warehouse and the runtime in the background; provision; wait ready
               (--from cdk.out: provision the synthesized template and run its assets;
               on a partly running cloud: start only the parts that are down, say which)
    down       stop exactly what `up` started (the pids in <state>/pids.json); every part's
               state is kept in <state> (moto's AWS resources and data, the warehouse, checkpoints)
    status     each part with its pid, port and whether it answers (exit 1 if one does not)
    env        shell exports for boto3/AWS CLI, the API, the warehouse and the console: eval "$(make -s env)"
    console    the live console's URL (CONSOLE_URL), once it answers
    logs       print (or -f follow) the parts' logs in <state>/logs/
    faults     set or clear fault switches of the Lambda runtime (fail, latency, kill)
    warehouse  stop|start|status|dsn the embedded PostgreSQL (fault tests: "the warehouse is down")

The state folder is `.localcloud` (or `--state-dir`, or LOCALCLOUD_STATE_DIR); ports come from
LOCALCLOUD_{AWS,API,RUNTIME,WAREHOUSE}_PORT at `up`, then from <state>/cloud.json. The warehouse
is an embedded PostgreSQL unless LOCALCLOUD_WAREHOUSE_DSN names an external one (WAREHOUSE_DSN,
which `env` exports for psql, never changes what `up` does). LOCALCLOUD_DURABLE=0 keeps moto's
state in memory only (benchmarks' baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from emulation.config import DEFAULT_STATE_DIR, CloudConfig

from .cloud import CloudStartError, LocalCloud

EXIT_UNSUPPORTED = 2


def _state_dir(args) -> Path:
    return Path(args.state_dir or os.environ.get("LOCALCLOUD_STATE_DIR") or DEFAULT_STATE_DIR)


def _saved_config(args) -> CloudConfig:
    return CloudConfig.load(_state_dir(args))


def _compose_guard(args) -> int | None:
    """`--stack compose` hands up/down/status/env to the Docker harness driver."""
    if getattr(args, "stack", "embedded") != "compose":
        return None
    action = args.fn.__name__.removeprefix("cmd_")
    if getattr(args, "template", None):
        print("error: `up --from` (FROM=) provisions the embedded cloud only", file=sys.stderr)
        return EXIT_UNSUPPORTED
    if action not in ("up", "down", "status", "env"):
        print(
            f"error: `{action}` has no compose form; use docker compose directly", file=sys.stderr
        )
        return EXIT_UNSUPPORTED
    from . import compose

    return compose.main(action)


def cmd_up(args) -> int:
    config = CloudConfig.from_environment()
    config.state_dir = _state_dir(args)
    try:  # what no variable sets (a test's resource description) stays as the state was made with
        saved = CloudConfig.load(config.state_dir)
        config.resources, config.extra_env = saved.resources, saved.extra_env
    except (FileNotFoundError, ValueError, TypeError):
        pass
    if args.template:
        from emulation.cloudformation.startup import from_template

        try:
            config.resources = from_template(Path(args.template), print)
        except ValueError as exc:  # TemplateError: what of the assembly cannot run, and where
            print(f"error: cannot provision from {args.template}: {exc}", file=sys.stderr)
            return 1
    try:
        LocalCloud(config).start()
    except CloudStartError as exc:
        print(f"error: the local cloud did not start.\n{exc}", file=sys.stderr)
        return 1
    return 0


def cmd_down(args) -> int:
    try:
        config = _saved_config(args)
    except FileNotFoundError:
        print(f"nothing was running (no local cloud in {_state_dir(args)})")
        return 0
    LocalCloud(config).stop()
    return 0


def cmd_status(args) -> int:
    config = _saved_config(args)
    parts = LocalCloud(config).status()
    if args.json:
        print(json.dumps([p.__dict__ for p in parts], indent=2))
    else:
        print(f"{'part':<10} {'pid':>7} {'port':>6}  {'running':<8} {'answering':<9}  where")
        for p in parts:
            print(f"{p.name:<10} {p.pid or '-':>7} {p.port or '-':>6}  {_yes(p.running):<8} "
                  f"{_yes(p.answering):<9}  {p.detail}")  # fmt: skip
        for line in restart_hints(parts):
            print(line)
    return 0 if all(p.running and p.answering for p in parts) else 1


def restart_hints(parts) -> list[str]:
    """What is dead and what `make up` will do about it (it restarts only those parts)."""
    dead = [p.name for p in parts if not (p.running and p.answering)]
    if not dead:
        return []
    alive = [p.name for p in parts if p.running and p.answering]
    if not alive:
        return ["the local cloud is down: `make up` starts it (its state is kept in <state>)"]
    which = " and ".join(dead)
    lines = [
        f"{which} {'is' if len(dead) == 1 else 'are'} down: `make up` restarts "
        f"{'it' if len(dead) == 1 else 'them'} alone"
    ]
    if alive:
        lines[0] += f" ({' and '.join(alive)} keep running with their data)"
    if "moto" in dead:
        lines.append(
            "moto restores the AWS-side state it acknowledged from <state>/moto "
            "(Kinesis, DynamoDB, S3, SQS, Glue, IAM, Lambda, ...)"
        )
    return lines


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def cmd_env(args) -> int:
    cloud = LocalCloud(_saved_config(args))
    for key, value in cloud.env().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_console(args) -> int:
    cloud = LocalCloud(_saved_config(args))
    url = cloud.console_url
    if url is None:
        print(
            "error: this cloud's runtime does not run the console service (LOCALCLOUD_SERVICES)",
            file=sys.stderr,
        )
        return 1
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
    except OSError as exc:
        print(
            f"error: the console does not answer at {url} ({exc}): is the cloud up? (make up)",
            file=sys.stderr,
        )
        return 1
    print(url)
    return 0


def _log_parts(logs_dir: Path) -> dict[str, list[Path]]:
    parts: dict[str, list[Path]] = {}
    if logs_dir.is_dir():
        for entry in sorted(logs_dir.iterdir()):
            if entry.is_file() and entry.suffix == ".log":
                parts[entry.stem] = [entry]
            elif entry.is_dir():
                parts[entry.name] = sorted(entry.glob("*.log"))
    return parts


def cmd_logs(args) -> int:
    logs_dir = _state_dir(args) / "logs"
    parts = _log_parts(logs_dir)
    if args.part and args.part not in parts:
        known = ", ".join(parts) or "none yet"
        print(
            f"error: no logs for part {args.part!r} in {logs_dir} (available: {known})",
            file=sys.stderr,
        )
        return 1
    selected = {args.part: parts[args.part]} if args.part else parts
    files = [f for group in selected.values() for f in group]
    if not files:
        print(f"no logs in {logs_dir} yet: run `make up`", file=sys.stderr)
        return 1
    from .supervisor import tail

    for path in files:
        print(f"==> {path} <==")
        print(tail(path, args.lines))
    if args.follow:
        _follow(logs_dir, args.part)
    return 0


def _follow(logs_dir: Path, part: str | None) -> None:
    """Print what is appended to the selected logs (new Lambda logs included) until Ctrl-C."""
    offsets: dict[Path, int] = {}
    for group in _log_parts(logs_dir).values():
        for path in group:
            offsets[path] = path.stat().st_size
    try:
        while True:
            parts = _log_parts(logs_dir)
            for path in parts.get(part, []) if part else [f for g in parts.values() for f in g]:
                size = path.stat().st_size
                start = offsets.get(path, 0)
                if size < start:
                    start = 0  # truncated
                if size > start:
                    with open(path, "rb") as f:
                        f.seek(start)
                        chunk = f.read(size - start).decode("utf-8", "replace")
                    prefix = (
                        f"[{path.stem}] " if part is None or len(parts.get(part, [])) > 1 else ""
                    )
                    for line in chunk.splitlines():
                        print(prefix + line, flush=True)
                offsets[path] = size
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def cmd_faults(args) -> int:
    config = _saved_config(args)
    url = f"{config.runtime_url}/faults"
    if args.clear:
        body = {"function": args.function} if args.function else {}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="DELETE")
    else:
        if not args.function:
            print("error: --function is required (or --clear)", file=sys.stderr)
            return 1
        if args.fail_probability is not None and not 0.0 <= args.fail_probability <= 1.0:
            print(
                f"error: --fail-probability {args.fail_probability} is not in 0..1", file=sys.stderr
            )
            return 1
        if args.latency_ms is not None and args.latency_ms < 0:
            print(f"error: --latency-ms {args.latency_ms} is negative", file=sys.stderr)
            return 1
        body = {"function": args.function}
        for key, value in (
            ("fail_probability", args.fail_probability),
            ("fail_on_substring", args.fail_on),
            ("latency_ms", args.latency_ms),
        ):
            if value is not None:
                body[key] = value
        if args.kill_next:
            body["kill_next"] = True
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            print(resp.read().decode() or "ok")
            return 0
    except urllib.error.HTTPError as exc:
        print(
            f"error: {request.method} {url} -> {exc.code}: {exc.read().decode()}", file=sys.stderr
        )
    except OSError as exc:
        print(
            f"error: the runtime does not answer at {url} ({exc}): is the cloud up?",
            file=sys.stderr,
        )
    return 1


def cmd_warehouse(args) -> int:
    cloud = LocalCloud(_saved_config(args))
    try:
        if args.action == "stop":
            print("warehouse stopped" if cloud.warehouse_stop() else "warehouse was not running")
        elif args.action == "start":
            print(f"warehouse running (pid {cloud.warehouse_start()})")
        elif args.action == "dsn":
            print(cloud.warehouse_dsn)
        else:
            part = next(p for p in cloud.status() if p.name == "warehouse")
            print(f"warehouse pid {part.pid or '-'} port {part.port or '-'} "
                  f"answering {_yes(part.answering)}")  # fmt: skip
            return 0 if part.answering else 1
    except CloudStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help="the local cloud's state folder (default .localcloud, "
                        "or LOCALCLOUD_STATE_DIR)")  # fmt: skip
    stack = argparse.ArgumentParser(add_help=False)
    stack.add_argument("--stack", choices=("embedded", "compose"), default="embedded",
                       help="embedded (default, no Docker) or compose (Docker harness)")  # fmt: skip

    parser = argparse.ArgumentParser(
        prog="python -m emulation",
        description="The embedded local cloud: moto + runtime + PostgreSQL, no Docker.",
        epilog=__doc__.split("\n\n")[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("up", parents=[common, stack], help="start the local cloud in the background "
                       "and wait until it is ready")  # fmt: skip
    p.add_argument(
        "--from",
        dest="template",
        metavar="CDK_OUT",
        help="provision from this synthesized cloud assembly (make up FROM=cdk.out) instead "
        "of pipeline/resources.py; synthesizes cdk.out first when it is missing or stale",
    )
    p.set_defaults(fn=cmd_up)
    sub.add_parser("down", parents=[common, stack], help="stop exactly what `up` started"
                   ).set_defaults(fn=cmd_down)  # fmt: skip
    p = sub.add_parser(
        "status", parents=[common, stack], help="show each part and whether it answers"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(fn=cmd_status)
    sub.add_parser("env", parents=[common, stack], help='print shell exports: eval "$(make -s env)"'
                   ).set_defaults(fn=cmd_env)  # fmt: skip
    sub.add_parser("console", parents=[common], help="print the live console's URL (once it answers)"
                   ).set_defaults(fn=cmd_console)  # fmt: skip
    p = sub.add_parser("logs", parents=[common], help="print or follow the parts' logs")
    p.add_argument("--part", help="moto, runtime, warehouse, provision, lambda, ... (default: all)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what is appended")
    p.add_argument(
        "-n", "--lines", type=int, default=50, help="lines per log to print (default 50)"
    )
    p.set_defaults(fn=cmd_logs)
    p = sub.add_parser("faults", parents=[common], help="set/clear the runtime's fault switches")
    p.add_argument("--function", help="Lambda function the switches apply to")
    p.add_argument("--fail-probability", type=float, help="fail this share of invocations (0..1)")
    p.add_argument("--fail-on", help="fail invocations whose event contains this substring")
    p.add_argument("--latency-ms", type=int, help="add this latency to every invocation")
    p.add_argument(
        "--kill-next", action="store_true", help="kill the worker during the next invocation"
    )
    p.add_argument(
        "--clear", action="store_true", help="clear the switches (of --function, or all)"
    )
    p.set_defaults(fn=cmd_faults)
    p = sub.add_parser(
        "warehouse", parents=[common], help="stop|start|status|dsn the embedded PostgreSQL"
    )
    p.add_argument("action", choices=("stop", "start", "status", "dsn"))
    p.set_defaults(fn=cmd_warehouse)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unsupported = _compose_guard(args)
    if unsupported is not None:
        return unsupported
    try:
        return args.fn(args)
    except FileNotFoundError as exc:  # CloudConfig.load: no cloud.json
        print(f"error: {exc}", file=sys.stderr)
        return 1
