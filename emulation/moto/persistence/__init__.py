"""Durable AWS-side state for the local cloud: what moto holds survives `down`/`up` and `kill -9`.

Emulates: AWS keeps every write it acknowledged. moto keeps everything in the memory of one
process, so a stopped or crashed moto used to lose every stream, table, bucket, queue, catalog and
job run. With `python -m emulation.moto.server --state-dir DIR` (what `up` passes, unless
LOCALCLOUD_DURABLE=0) moto's state lives in DIR (`<state>/moto/`):

    snapshots/<service>.pickle   the control plane of each service, rewritten after each change
                                 (`backends.py`; requests sorted by `gate.py`)
    kinesis/<stream>-<id>/<shard>.log   every record, with its sequence number and arrival time
    dynamodb/<table>-<id>.log    every item state written (the last one per key counts)
    s3/<bucket>-<id>.log         every object state written (body, metadata; the last one counts)
    format.json                  the moto version and format that wrote them
    restore.json                 what the last start restored (also `GET /_localcloud/persistence`)

Every acknowledged change is written (`write()`, into the OS page cache) before its response
leaves: a crash of the moto process loses nothing it acknowledged; a torn write at the end of a
log (the process died inside it, before answering) is dropped at restore and reported. Files are
fsynced in the background every LOCALCLOUD_FSYNC_S seconds (default 1): a crash of the machine can
lose the writes of that last interval. At start the server restores everything before it listens,
and reports counts and dropped tails (`up` prints them).

Known gaps vs AWS (what is not kept):
- CloudWatch Logs events (groups and streams are kept; function logs are also in
  `<state>/logs/lambda/`); multipart uploads in progress (their parts); SQS visibility timeouts
  (a received, undeleted message is visible again after a restart, as after its timeout); the
  items of DynamoDB backups; STS sessions.
- Kinesis records never expire (as without persistence: moto does not apply retention).
- The state is moto's own objects, pickled: it is tied to the moto version that wrote it (a
  different version refuses to start on it, saying so, rather than misread it).
- A control-plane change rewrites that service's whole snapshot: fine for what the pipeline has
  (a few dozen resources, SQS queues of tens of messages), slow for a queue of 100,000 messages.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .backends import NOT_PERSISTED, IncompatibleState, Snapshots, backend_dict, check_header, strip
from .dynamodb import DynamoLogs
from .files import FSYNC_INTERVAL_S, Flusher
from .gate import ActionProbe, InFlight, PersistedApp
from .kinesis import KinesisLogs
from .s3 import S3Logs

log = logging.getLogger("localcloud.persistence")

FORMAT = 1
DATA_SERVICES = ("kinesis", "dynamodb", "s3")
__all__ = ["IncompatibleState", "Persistence", "RestoreReport"]


def header() -> dict[str, Any]:
    import moto

    return {"format": FORMAT, "moto": moto.__version__}


class RestoreReport:
    """What a start restored, for moto's log, `GET /_localcloud/persistence` and `make up`."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.details: dict[str, str] = {}
        self.problems: list[str] = []
        self.services: list[str] = []
        self.seconds = 0.0

    def add(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def count(self, what: str, n: int, detail: str = "") -> None:
        self.add(what, n)
        if detail:
            self.details[what] = detail

    def detail(self, what: str, text: str) -> None:
        self.details[what] = text

    def problem(self, text: str) -> None:
        log.warning("restore: %s", text)
        self.problems.append(text)

    def summary(self) -> str:
        parts = []
        for what, n in self.counts.items():
            detail = self.details.get(what)
            parts.append(f"{n:,} {what}" + (f" ({detail})" if detail else ""))
        if self.services:
            parts.append(f"the resources of {len(self.services)} services")
        text = "restored " + ", ".join(parts) if parts else "nothing to restore (a new state)"
        text += f" in {self.seconds:.1f} s"
        if self.problems:
            text += "; " + "; ".join(self.problems)
        return text

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "details": self.details, "problems": self.problems,
                "services": self.services, "seconds": round(self.seconds, 3),
                "summary": self.summary()}  # fmt: skip


class Persistence:
    """moto's state in `root`: install the hooks, restore, wrap the apps, shut down cleanly."""

    def __init__(self, root: Path, fsync_interval_s: float = FSYNC_INTERVAL_S):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.header = header()
        self._check_format()
        self.flusher = Flusher(fsync_interval_s)
        self.snapshots = Snapshots(self.root, self.flusher, self.header)
        self.kinesis = KinesisLogs(self.root, self.flusher)
        self.dynamodb = DynamoLogs(self.root, self.flusher)
        self.s3 = S3Logs(self.root, self.flusher)
        self.in_flight = InFlight()
        self.report = RestoreReport()

    def _check_format(self) -> None:
        path = self.root / "format.json"
        if path.exists():
            check_header(json.loads(path.read_text()), self.header, f"the state in {self.root}")
        else:
            path.write_text(json.dumps(self.header) + "\n")

    def install(self) -> None:
        """Hook moto (after the Kinesis patch: the record logs share its locks)."""
        from moto.logs.models import LogStream

        from . import dynamodb, kinesis, s3

        kinesis.install(self.kinesis)
        dynamodb.install(self.dynamodb)
        s3.install(self.s3)
        strip(LogStream, events=list)
        ActionProbe.install()

    def restore(self) -> RestoreReport:
        started = time.monotonic()
        report = self.report
        for service in self.snapshots.services():
            if self.snapshots.restore(service, report):
                report.services.append(service)
        if "kinesis" in report.services:
            self.kinesis.restore(_backends("kinesis"), report)
        if "dynamodb" in report.services:
            self.dynamodb.restore(_backends("dynamodb"), report)
        if "s3" in report.services:
            self.s3.restore(_backends("s3"), report)
        report.seconds = time.monotonic() - started
        (self.root / "restore.json").write_text(json.dumps(report.as_json(), indent=2) + "\n")
        log.info("%s", report.summary())
        self.flusher.start()
        self.dynamodb.build_in_background()
        return report

    def wrap(self, name: str, app):
        """The service app moto's dispatcher built for backend `name`, persisting its writes."""
        try:
            service = backend_dict(name).service_name
        except Exception:  # noqa: BLE001 - not a backend moto can name: nothing to keep
            return app
        if service in NOT_PERSISTED:
            return app
        return PersistedApp(service, app, self)

    def control_changed(self, service: str) -> None:
        self.snapshots.write(service)
        if service in DATA_SERVICES:
            getattr(self, service).sync(_backends(service))

    def status(self) -> dict[str, Any]:
        return {"root": str(self.root), "fsync_interval_s": self.flusher.interval_s,
                "fsync_rounds": self.flusher.rounds, "snapshots_written": self.snapshots.written,
                "restore": self.report.as_json()}  # fmt: skip

    def shutdown(self, timeout: float = 5.0) -> None:
        """After the server stopped accepting: let writes in flight finish, then sync every file."""
        if not self.in_flight.drain(timeout):
            log.warning("shutdown: writes still in flight after %.0f s", timeout)
        self.flusher.stop()
        for logs in (self.kinesis, self.dynamodb, self.s3):
            logs.close()


def _backends(service: str) -> list:
    return [backend for _account, _region, backend in backend_dict(service).iter_backends()]
