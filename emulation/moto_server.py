"""The local cloud's AWS API endpoint: moto in threaded server mode, with our patches applied.

`python -m emulation.moto_server --port P [--runtime-url URL]` imports every module listed in
`emulation.moto_patches.PATCHES`, calls its `apply(runtime_url)`, then serves every AWS API moto
emulates on `127.0.0.1:P` (one thread per connection, as `moto_server` does).

A listed patch module that does not exist yet is logged as a warning and skipped, so the cloud still
starts while a patch is being written; a patch that exists but fails to apply stops the server (a
half-patched moto would give wrong answers silently). `--no-patches` serves stock moto (the
baseline of the Kinesis regression test and `python -m bench cloud`).

Known gaps vs AWS: those of moto 5.2.1 itself (see docs/internals.md and each patch's docstring);
requests are not signed-checked and every account id is accepted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading

from .moto_patches import PATCHES

log = logging.getLogger("localcloud.moto")

# The services the local cloud provisions and uses, loaded before the port opens.
WARM_SERVICES = (
    "kinesis", "dynamodb", "s3", "sqs", "iam", "lambda", "secretsmanager", "apigateway", "firehose",
    "glue", "sts",
)  # fmt: skip


def apply_patches(runtime_url: str | None, only: list[str] | None = None) -> list[str]:
    """Apply the patches (all of `PATCHES`, or the ones whose last name part is in `only`)."""
    applied = []
    for module_name in PATCHES:
        short = module_name.rsplit(".", 1)[-1]
        if only is not None and short not in only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the patch exists but one of its own imports is missing: a real failure
            log.warning("moto patch %s does not exist yet: serving stock moto for it", module_name)
            continue
        module.apply(runtime_url)
        applied.append(short)
        log.info("moto patch %s applied", module_name)
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulation.moto_server", description="Serve the patched moto on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--runtime-url", default=None, help="the runtime's control URL, for patches"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-patches", action="store_true", help="serve stock moto (baselines)")
    group.add_argument("--patch", action="append", help="apply only this patch (repeatable)")
    parser.add_argument("--access-log", action="store_true", help="log every request (noisy)")
    parser.add_argument("--no-warm", action="store_true", help="load backends on first request")
    parser.add_argument(
        "--region", default="us-east-1", help="region whose backends are pre-loaded"
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port (1..65535)")

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Pollers call GetRecords several times a second: per-request lines would drown the log.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.access_log else logging.WARNING)

    applied = [] if args.no_patches else apply_patches(args.runtime_url, args.patch)
    log.info(
        "moto server on %s:%d, patches: %s", args.host, args.port, ", ".join(applied) or "none"
    )

    serve(args.host, args.port, warm=() if args.no_warm else WARM_SERVICES, region=args.region)
    return 0


def serve(host: str, port: int, warm=WARM_SERVICES, region: str = "us-east-1") -> None:
    """What `moto.server.main` does (threaded werkzeug); the cloud's backends load in the background."""
    import os
    import signal

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (SQS queue URLs) from it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    if warm:
        threading.Thread(target=_warm, args=(app, warm, region), name="warm", daemon=True).start()
    run_simple(host, port, app, threaded=True)


def _warm(app, services, region: str) -> None:
    """Load the backends the cloud uses while `up` is busy elsewhere (its own imports, PostgreSQL):
    otherwise the first request to each service pays for it (about a second of CPU in all).

    Safe next to live requests: moto creates apps under `app.lock` and backends under its
    `backend_lock`, and both are check-then-create, so a request and this thread share one.
    """
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    for service in services:
        try:
            with app.lock:
                if service not in app.app_instances:
                    app.app_instances[service] = app.create_app(service)
            backends = get_backend(service)[DEFAULT_ACCOUNT_ID]
            for name in (region, "global"):
                if name in backends.regions:
                    backends[name]
        except Exception:  # warming is an optimisation only: the request path still works
            log.warning("could not pre-load moto backend %s", service, exc_info=True)


if __name__ == "__main__":
    sys.exit(main())
