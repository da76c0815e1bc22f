"""What `make e2e` measures about its own run: phase timings and each stage's progress over time.

Timings (written under "timings" in .e2e/reconciliation.json), seconds:
    replay_s            first event sent -> last answer received
    sinks_caught_up_s   per sink, first event sent -> the full read that found it equal to the source
                        (an upper bound: reads are spaced by the poll interval)
    batch_job_s         the Glue job run, started -> its final state (null without --batch)
    reconciliation_s    the replay's end -> every stream sink read equal (or the timeout)
    total_s             first event sent -> the table printed
    starts_s            when each phase started, for the report's timeline

Progress over time (the report's events-per-second chart): the client's accepted events per batch
answer (`Summary.timeline`), and for each sink the records its consumer has handled, sampled every
`every_s` from the runtime's counters (`GET /mappings`, `GET /firehose`) when LOCALCLOUD_RUNTIME_URL is known
(the local stacks); otherwise (AWS) from the e2e's own sink reads only.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

CONSUMER_SINKS = {"sales-projector": "dynamodb", "sales-archiver": "s3 archive"}
FIREHOSE_SINK = "warehouse stream"


class RunRecord:
    def __init__(self, runtime_url: str | None = None, every_s: float = 2.0, clock=time.monotonic):
        self.clock = clock
        self.t0 = clock()
        self.runtime_url = runtime_url.rstrip("/") if runtime_url else None
        self.every_s = every_s
        self.marks: dict[str, tuple[float, float | None]] = {}
        self.series: dict[str, list[tuple[float, int]]] = {}
        self.caught_up: dict[str, float | None] = {}
        """Per sink, the clock time its full read first equalled the source (None: never)."""
        self._base: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return round(self.clock() - self.t0, 3)

    # -- phases ------------------------------------------------------------------------------------
    def start(self, phase: str) -> None:
        self.marks[phase] = (self.now(), None)

    def end(self, phase: str) -> None:
        start = self.marks.get(phase, (self.now(), None))[0]
        self.marks[phase] = (start, self.now())

    def timings(self, caught_up: dict[str, float | None]) -> dict[str, Any]:
        def length(phase: str) -> float | None:
            start, end = self.marks.get(phase, (None, None))
            return round(end - start, 3) if start is not None and end is not None else None

        sinks = {
            name: (round(at - self.t0, 3) if at is not None else None)
            for name, at in caught_up.items()
        }
        starts = {
            "replay": 0.0,
            **{f"{n} caught up": 0.0 for n in sinks},
            "batch job": self.marks.get("batch job", (None,))[0],
            "reconciliation": self.marks.get("reconciliation", (None,))[0],
            "total": 0.0,
        }
        return {
            "replay_s": length("replay"),
            "sinks_caught_up_s": sinks,
            "batch_job_s": length("batch job"),
            "reconciliation_s": length("reconciliation"),
            "total_s": self.now(),
            "starts_s": {k: v for k, v in starts.items() if v is not None},
        }

    # -- sampling the runtime's counters ----------------------------------------------------------
    def sample_in_background(self) -> None:
        if self.runtime_url is None:
            return
        self._sample()  # the baseline: counters include earlier runs
        self._thread = threading.Thread(target=self._loop, name="e2e-sampler", daemon=True)
        self._thread.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._sample()

    def add_point(self, series: str, value: int) -> None:
        self.series.setdefault(series, []).append((self.now(), value))

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        try:
            mappings = _get(f"{self.runtime_url}/mappings")["mappings"]
            firehose = _get(f"{self.runtime_url}/firehose")["deliveries"]
        except (OSError, ValueError, KeyError):
            return  # a sample lost is a gap in a chart, nothing more
        counts = {
            CONSUMER_SINKS[m["function"]]: m["records_succeeded"]
            for m in mappings
            if m["function"] in CONSUMER_SINKS
        }
        counts[FIREHOSE_SINK] = sum(d["records_delivered"] for d in firehose)
        for name, value in counts.items():
            base = self._base.setdefault(name, value)
            self.add_point(f"{name} (runtime)", value - base)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())
