"""Runtime service `console`: the pipeline's live console, served on the runtime's control port.

    GET /console/                 the page (HTML, CSS and JS from `static/`, nothing from a CDN)
    GET /console/api/snapshot     every stage's figures as JSON (`emulation.console.collector`)

The page asks for a snapshot every second. Figures are collected only while someone watches (a
snapshot was asked for in the last `WATCH_S` seconds): the cheap ones (in-process counters, moto's
shard counts) by one thread about once a second, the costly reads (DynamoDB, SQS, the archive,
the warehouse) by another, each at its own pace. With the page closed the console costs nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .collector import Collector

log = logging.getLogger("localcloud.console")

STATIC = Path(__file__).with_name("static")
PATH = "/console/"
WATCH_S = 10.0
"""Keep collecting this long after the last snapshot request."""
TICK_S = 1.0
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def console_url(runtime_url: str) -> str:
    return runtime_url.rstrip("/") + PATH


class ConsoleService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.collector = Collector(ctx)
        self._latest: dict | None = None
        self._lock = threading.Lock()
        self._asked = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._slow = threading.Thread(target=self._run_slow, name="console-reads", daemon=True)

    def start(self) -> None:
        control = self.ctx.control
        control.register("GET", r"/console", lambda *_: (301, {"Location": PATH}, b""))
        control.register("GET", r"/console/", lambda *_: self._static("index.html"))
        control.register(
            "GET",
            r"/console/(?P<name>[a-z]+\.(?:js|css|svg))",
            lambda p, *_: self._static(p["name"]),
        )
        control.register("GET", r"/console/api/snapshot", self._snapshot)
        self._thread.start()
        self._slow.start()
        log.info("console on %s", console_url(self.ctx.config.runtime_url))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._slow.join(timeout=5)
        self.collector.close()

    def _static(self, name: str):
        path = STATIC / name
        if not path.is_file():
            return 404, {}, {"message": f"no console file {name}"}
        return (
            200,
            {"Content-Type": _TYPES[path.suffix], "Cache-Control": "no-cache"},
            path.read_bytes(),
        )

    def _snapshot(self, *_):
        first = self._asked == 0.0 or time.monotonic() - self._asked > WATCH_S
        self._asked = time.monotonic()
        if first or self._latest is None:
            self._wake.set()
            self._collect()  # nobody was watching: fresh figures (the costly reads follow)
        return 200, {"Cache-Control": "no-store"}, self._latest

    def _collect(self) -> None:
        with self._lock:
            try:
                self._latest = self.collector.snapshot()
            except Exception as exc:  # the page says so and asks again
                log.exception("console snapshot failed")
                self._latest = {
                    "at": time.time(),
                    "errors": {"console": f"{type(exc).__name__}: {exc}"},
                }

    def _run_slow(self) -> None:
        """The costly reads (`Collector.refresh_slow`), each at its own pace, while watched."""
        while not self._stop.is_set():
            if time.monotonic() - self._asked > WATCH_S:
                self._stop.wait(0.5)
                continue
            try:
                self.collector.refresh_slow()
            except Exception:  # each read records its own error; this is a bug
                log.exception("console reads failed")
            self._stop.wait(0.5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._asked > WATCH_S:
                self._wake.wait()  # nobody watches: collect nothing
                self._wake.clear()
                continue
            started = time.monotonic()
            self._collect()
            self._stop.wait(max(0.2, TICK_S - (time.monotonic() - started)))
