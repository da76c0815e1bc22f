"""The runtime process of the local cloud: everything that *runs code*, which moto does not.

`python -m emulation.control.runtime --state-dir DIR` reads `DIR/cloud.json` and the resource
description, then starts its services (`emulation.registry.SERVICES`) in order:

    lambda     emulation.awslambda.service.LambdaService       worker process per function
    mappings   emulation.awslambda.mappings.MappingService     Kinesis pollers -> Lambda
    api        emulation.apigateway.service.ApiGatewayService  REST API stage on api_port
    firehose   emulation.firehose.service.FirehoseService      Kinesis -> S3 -> warehouse COPY
    glue       emulation.glue.service.GlueRunnerService        StartJobRun on local Spark
    redshift-data  emulation.redshift.data_api.RedshiftDataService  Data API statements on the warehouse

Each service is a class taking a `RuntimeContext` with `start()` and `stop()`. The control plane
(`runtime_port`) is a small HTTP server services register routes on; `GET /health` answers once
every service has started.

With `--provision` (what `up` passes) the runtime first imports and builds its services while
moto and PostgreSQL are still starting, then provisions the description
(`emulation.provision.runner.provision_for_up`), then starts the services; meanwhile `/health` answers
503 with `"provisioned"` telling how far it got.
"""

from __future__ import annotations

import argparse
import json
import logging
import pkgutil
import re
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulation.config import CloudConfig, load_resources
from emulation.registry import SERVICES

if TYPE_CHECKING:
    from emulation.naming import LocalNames

log = logging.getLogger("localcloud.runtime")

# (status, headers, body) returned by control routes; body is JSON-encoded when not bytes.
Reply = tuple[int, dict[str, str], Any]
RouteHandler = Callable[[dict[str, str], dict[str, str], bytes], Reply]


class ControlServer:
    """Tiny router over ThreadingHTTPServer: `register("POST", r"/faults", fn)`."""

    def __init__(self, host: str, port: int):
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []
        routes = self._routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                for method, pattern, fn in routes:
                    match = pattern.fullmatch(path)
                    if method == self.command and match:
                        try:
                            status, headers, payload = fn(
                                match.groupdict(), dict(self.headers), body
                            )
                        except Exception as exc:  # a control call must never kill the runtime
                            log.exception("control route %s %s failed", self.command, path)
                            status, headers, payload = 500, {}, {"message": repr(exc)}
                        break
                else:
                    status, headers, payload = (
                        404,
                        {},
                        {"message": f"no control route {self.command} {path}"},
                    )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _dispatch

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("control: " + fmt, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True

    def register(self, method: str, path_regex: str, fn: RouteHandler) -> None:
        self._routes.append((method, re.compile(path_regex), fn))

    def serve_in_background(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="control", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class RuntimeContext:
    config: CloudConfig
    resources: Any  # pipeline.resources.Resources
    names: LocalNames
    control: ControlServer
    stop_event: threading.Event = field(default_factory=threading.Event)
    services: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def boto(self, service: str):
        """The boto3 client of `service` pointed at the local cloud's AWS endpoint, shared by every
        caller (clients are thread-safe; building one costs 10-200 ms of CPU)."""
        from emulation.provision.runner import (
            BOTO3_BUILD_LOCK,  # boto3's default session: one builder at a time
        )

        with BOTO3_BUILD_LOCK:
            client = self._clients.get(service)
            if client is None:
                import boto3
                from botocore.config import Config

                client = self._clients[service] = boto3.client(
                    service,
                    endpoint_url=self.config.aws_endpoint,
                    region_name=self.config.region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(
                        retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32
                    ),
                )
            return client

    def service(self, name: str):
        return self.services[name]


class Runtime:
    def __init__(self, config: CloudConfig, only: set[str] | None = None):
        from emulation.naming import (
            LocalNames,  # imports the description's models: not needed for SERVICES
        )

        resources = load_resources(config.resources)
        control = ControlServer(config.host, config.runtime_port)
        self.ctx = RuntimeContext(
            config=config,
            resources=resources,
            names=LocalNames(resources, config.region),
            control=control,
        )
        self.only = only
        self.ready = False
        self.prepared = False
        self.provisioned = False
        self.started: list[str] = []
        self._changed = threading.Condition()
        control.register("GET", r"/health", self._health)
        from emulation.config import ACCOUNT_ID
        from emulation.redshift.serverless import register_redshift_serverless

        register_redshift_serverless(
            control, config, resources, ACCOUNT_ID
        )  # moto has no such service

    def _health(self, _params, headers, _body) -> Reply:
        """`Prefer: wait=N` (RFC 7240) holds the answer up to N s (at most 10) until the runtime
        becomes ready or provisioned: `up` waits without polling."""
        wait = _preferred_wait(headers)
        if wait:
            with self._changed:  # checked under the lock: a change cannot slip in before wait()
                if not self.ready:
                    self._changed.wait(wait)
        status = 200 if self.ready else 503
        return status, {}, {"ready": self.ready, "provisioned": self.provisioned,
                            "services": sorted(self.started)}  # fmt: skip

    def _set(self, **state: bool) -> None:
        with self._changed:
            for name, value in state.items():
                setattr(self, name, value)
            self._changed.notify_all()

    def provision(self, stop: threading.Event) -> bool:
        """Provision for `up` (see `--provision`); False if stopped or failed (logged)."""
        from emulation.provision.runner import ProvisionError, ProvisionStopped, provision_for_up

        try:
            provision_for_up(
                self.ctx.config, self.ctx.resources, stop, shared_clients=self.ctx.boto
            )
        except ProvisionStopped as exc:
            log.warning("provisioning did not finish: %s", exc)
            return False
        except ProvisionError as exc:
            log.error("provision step %s failed: %s (see provision.log)", exc.step, exc)
            return False
        self._set(provisioned=True)
        log.info("provisioned %s", self.ctx.config.resources)
        return True

    def prepare(self) -> None:
        """Serve the control plane and build every service (imports, clients; no AWS call yet)."""
        if self.prepared:
            return
        self.ctx.control.serve_in_background()
        for name, spec in SERVICES:
            if self.only is not None and name not in self.only:
                continue
            self.ctx.services[name] = pkgutil.resolve_name(spec)(self.ctx)
        self.prepared = True

    def start(self) -> None:
        self.prepare()
        for name, service in self.ctx.services.items():
            self.started.append(name)  # a service that fails half way is still stopped
            service.start()
            log.info("service %s started", name)
        self._set(ready=True)

    def stop(self) -> None:
        self.ctx.stop_event.set()
        for name in reversed(self.started):
            try:
                self.ctx.services[name].stop()
            except Exception:
                log.exception("service %s did not stop cleanly", name)
        self.ctx.control.stop()


def _preferred_wait(headers: dict[str, str]) -> float:
    for key, value in headers.items():
        if key.lower() == "prefer":
            for token in value.split(","):
                name, _, seconds = token.strip().partition("=")
                if name.strip().lower() == "wait":
                    try:
                        wait = float(seconds)
                    except ValueError:
                        return 0.0
                    return min(wait, 10.0) if wait > 0 else 0.0  # also refuses nan
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulation.control.runtime", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--only", help="comma-separated services to start (default: all)")
    parser.add_argument(
        "--provision",
        action="store_true",
        help="provision the description first, once moto answers (what `up` does)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = CloudConfig.load(args.state_dir)
    runtime = Runtime(config, set(args.only.split(",")) if args.only else None)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    runtime.prepare()
    if args.provision and not runtime.provision(done):
        runtime.stop()
        return 0 if done.is_set() else 1
    runtime.start()
    done.wait()
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
