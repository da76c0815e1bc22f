"""The runtime process of the local cloud: everything that *runs code*, which moto does not.

`python -m emulation.runtime --state-dir DIR` reads `DIR/cloud.json` and the resource description,
then starts its services in order:

    lambda         emulation.lambda_runtime.LambdaService       worker process per function
    mappings       emulation.event_source_mapping.MappingService Kinesis pollers -> Lambda
    api            emulation.api_gateway.ApiGatewayService      REST API stage on api_port
    firehose       emulation.firehose.FirehoseService           Kinesis -> S3 -> warehouse COPY
    glue           emulation.glue_runner.GlueRunnerService      StartJobRun on local Spark

Each service is a class taking a `RuntimeContext` with `start()` and `stop()`. The control plane
(`runtime_port`) is a small HTTP server services register routes on; `GET /health` answers once
every service has started.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import re
import signal
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from .config import CloudConfig, load_resources
from .naming import LocalNames

log = logging.getLogger("localcloud.runtime")

SERVICES: tuple[tuple[str, str], ...] = (
    ("lambda", "emulation.lambda_runtime:LambdaService"),
    ("mappings", "emulation.event_source_mapping:MappingService"),
    ("api", "emulation.api_gateway:ApiGatewayService"),
    ("firehose", "emulation.firehose:FirehoseService"),
    ("glue", "emulation.glue_runner:GlueRunnerService"),
)

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
                            status, headers, payload = fn(match.groupdict(), dict(self.headers), body)
                        except Exception as exc:  # a control call must never kill the runtime
                            log.exception("control route %s %s failed", self.command, path)
                            status, headers, payload = 500, {}, {"message": repr(exc)}
                        break
                else:
                    status, headers, payload = 404, {}, {"message": f"no control route {self.command} {path}"}
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

    def boto(self, service: str):
        """A boto3 client pointed at the local cloud's AWS endpoint."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.config.aws_endpoint,
            region_name=self.config.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
        )

    def service(self, name: str):
        return self.services[name]


def _load_class(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


class Runtime:
    def __init__(self, config: CloudConfig, only: set[str] | None = None):
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
        control.register("GET", r"/health", self._health)

    def _health(self, _params, _headers, _body) -> Reply:
        status = 200 if self.ready else 503
        return status, {}, {"ready": self.ready, "services": sorted(self.ctx.services)}

    def start(self) -> None:
        self.ctx.control.serve_in_background()
        for name, spec in SERVICES:
            if self.only is not None and name not in self.only:
                continue
            service = _load_class(spec)(self.ctx)
            self.ctx.services[name] = service
            service.start()
            log.info("service %s started", name)
        self.ready = True

    def stop(self) -> None:
        self.ctx.stop_event.set()
        for name in reversed(list(self.ctx.services)):
            try:
                self.ctx.services[name].stop()
            except Exception:
                log.exception("service %s did not stop cleanly", name)
        self.ctx.control.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulation.runtime", description=__doc__.split("\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--only", help="comma-separated services to start (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    config = CloudConfig.load(args.state_dir)
    runtime = Runtime(config, set(args.only.split(",")) if args.only else None)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    runtime.start()
    done.wait()
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
