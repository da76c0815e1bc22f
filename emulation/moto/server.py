"""The local cloud's AWS API endpoint: moto in threaded server mode, with our patches applied.

`python -m emulation.moto.server --port P [--runtime-url URL] [--state-dir DIR]` imports every
module listed in `emulation.registry.MOTO_PATCHES`, calls its `apply(runtime_url)`, then serves
every AWS API moto emulates on `127.0.0.1:P` (one thread per connection, as `moto_server` does),
plus `GET /_localcloud/health` (200 as soon as it listens; what `up` and `status` probe) and
`GET /_localcloud/kinesis/shards` (records per shard, for the console: `emulation.moto.introspect`).

With `--state-dir` (what `up` passes) moto's state is durable (`emulation.moto.persistence`): it
is restored from DIR before the port opens, every acknowledged change is written there before
its response, and SIGTERM stops accepting, lets the writes in flight finish and syncs the files.
`GET /_localcloud/persistence` reports what the start restored.

A listed patch module that does not exist yet is logged as a warning and skipped, so the cloud still
starts while a patch is being written; a patch that exists but fails to apply stops the server (a
half-patched moto would give wrong answers silently). `--no-patches` serves stock moto (the
baseline of the Kinesis regression test and `python -m bench cloud`).

Two per-request costs of moto 5.2.1's server that never change between requests are paid once
(`speed_up_dispatch`, about 1 CPU-second over one `make up`): moto builds a new botocore loader
for each service model it reads (each re-scans botocore's data folders: ~25,000 `stat` calls),
and it matches every request's host against ~400 URL patterns after listing its own package folder.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import threading
from pathlib import Path

from emulation.registry import MOTO_PATCHES

log = logging.getLogger("localcloud.moto")

# The services the local cloud provisions and uses, loaded before the port opens.
WARM_SERVICES = (
    "kinesis", "dynamodb", "s3", "sqs", "iam", "lambda", "secretsmanager", "apigateway", "firehose",
    "glue", "sts",
)  # fmt: skip


# What `up` and `status` probe: answered once moto is imported and listening (`GET /` would be an
# S3 ListBuckets, which loads S3's model on the first call).
HEALTH_PATH = "/_localcloud/health"
PERSISTENCE_PATH = "/_localcloud/persistence"
"""What the start restored and how the state is kept (`up` prints the restore summary)."""


def apply_patches(runtime_url: str | None, only: list[str] | None = None) -> list[str]:
    """Apply the patches (all of `MOTO_PATCHES`, or the ones whose last name part is in `only`)."""
    applied = []
    for module_name in MOTO_PATCHES:
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
        prog="python -m emulation.moto.server", description="Serve the patched moto on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--runtime-url", default=None, help="the runtime's control URL, for patches"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-patches", action="store_true", help="serve stock moto (baselines)")
    group.add_argument("--patch", action="append", help="apply only this patch (repeatable)")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="keep moto's state durable in this folder (default: memory only)",
    )
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
    persistence = None
    if args.state_dir:
        if "kinesis" not in applied:
            parser.error("--state-dir needs the kinesis patch (its locks order the record logs)")
        from emulation.moto.persistence import IncompatibleState, Persistence

        try:
            persistence = Persistence(Path(args.state_dir))
        except IncompatibleState as exc:
            log.error("%s", exc)
            return 2
        persistence.install()
        persistence.restore()
    log.info(
        "moto server on %s:%d, patches: %s, state: %s",
        args.host,
        args.port,
        ", ".join(applied) or "none",
        args.state_dir or "memory only",
    )

    serve(
        args.host,
        args.port,
        warm=() if args.no_warm else WARM_SERVICES,
        region=args.region,
        persistence=persistence,
    )
    return 0


def serve(
    host: str, port: int, warm=WARM_SERVICES, region: str = "us-east-1", persistence=None
) -> None:
    """What `moto.server.main` does (threaded werkzeug); the cloud's backends load in the
    background. SIGTERM/SIGINT stop accepting, then (durable state) sync it before exiting."""
    import os
    import signal

    from moto.moto_server.werkzeug_app import create_backend_app
    from werkzeug.serving import make_server

    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (SQS queue URLs) from it
    create_app = create_backend_app
    if persistence is not None:
        create_app = lambda name: persistence.wrap(name, create_backend_app(name))  # noqa: E731
    app = speed_up_dispatch(persistence)(create_app)
    app.debug = True
    server = make_server(host, port, app, threaded=True)

    def stop(*_args) -> None:  # shutdown() waits for serve_forever: not from its own thread
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if warm:
        threading.Thread(target=_warm, args=(app, warm, region), name="warm", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if persistence is not None:
            persistence.shutdown()
            log.info("moto state synced to %s", persistence.root)


def speed_up_dispatch(persistence=None):
    """Share one botocore loader for moto's service models, and return a dispatcher class that
    remembers which backend serves a host (both are pure functions of their arguments)."""
    import moto.core.utils as moto_utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from emulation.moto import introspect

    loader, lock = moto_utils.create_loader(), threading.Lock()

    def load_service_model(service_name: str, model_name: str):
        with lock:  # the loader caches per instance; one thread fills each entry
            return loader.load_service_model(service_name, model_name)

    moto_utils._load_service_model = load_service_model

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self, create_app):
            super().__init__(create_app)
            self._backend_of_host: dict[str, object] = {}

        def __call__(self, environ, start_response):
            path = environ.get("PATH_INFO")
            if path == HEALTH_PATH:  # readiness probe: no backend involved
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b'{"status": "running"}']
            if path == introspect.SHARDS_PATH:  # the console's shard counts
                return introspect.answer(environ, start_response)
            if path == PERSISTENCE_PATH:
                body = json.dumps(persistence.status() if persistence else {"durable": False})
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body.encode()]
            return super().__call__(environ, start_response)

        def get_backend_for_host(self, host):
            if host is None:
                return None
            try:
                return self._backend_of_host[host]
            except KeyError:
                backend = super().get_backend_for_host(host)
                if len(self._backend_of_host) < 4096:  # hosts are service x region: a small set
                    self._backend_of_host[host] = backend
                return backend

    return Dispatcher


def _warm(app, services, region: str) -> None:
    """Load what the cloud's first requests need while `up` is busy elsewhere (its own imports,
    PostgreSQL): each service's Flask app, backend, service model and, for services routed by
    method and URI (Lambda, API Gateway), moto's route table. Otherwise the first request to each
    service pays for it (about 1.5 s of CPU in all).

    Apps are keyed as a request finds them (`lambda` is moto's `awslambda` backend) and built
    outside `app.lock`, so requests to services already warm never wait for this thread; a request
    racing it for the same app builds its own and the first one stored wins.
    """
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.responses import _get_method_urls
    from moto.core.utils import get_service_model

    for service in services:
        try:
            backend_name = app.get_backend_for_host(f"{service}.{region}.amazonaws.com") or service
            if backend_name not in app.app_instances:
                built = app.create_app(backend_name)
                with app.lock:
                    app.app_instances.setdefault(backend_name, built)
            backends = get_backend(backend_name)[DEFAULT_ACCOUNT_ID]
            for name in (region, "global", "aws"):  # S3, IAM and STS live in partition "aws"
                if name in backends.regions:
                    backends[name]
            model = get_service_model(service)
            if model.protocol in ("rest-json", "rest-xml") and backend_name != "s3":
                # Routed by method + URI: moto builds that table from a boto3 client on first use.
                _get_method_urls(backend_name, region)
        except Exception:  # warming is an optimisation only: the request path still works
            log.warning("could not pre-load moto backend %s", service, exc_info=True)


if __name__ == "__main__":
    sys.exit(main())
