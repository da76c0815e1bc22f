"""moto's control plane on disk: one pickled snapshot per service, rewritten after each change.

What a service's resources are (IAM roles, Lambda functions, API Gateway APIs, secrets, queues and
their messages, the Glue catalog and job runs, Kinesis streams, DynamoDB tables, S3 buckets, log
groups...) is moto's own objects, pickled whole: `<root>/snapshots/<service>.pickle` holds every
account and region of the service. They change rarely (provisioning, a user's `aws ... create-*`),
so the whole service is written after each change, before the response leaves (`gate.py`).

The bulk data is not in these snapshots: Kinesis records, DynamoDB items and S3 objects have their
own append-only logs (`kinesis.py`, `dynamodb.py`, `s3.py`), because rewriting them per write would
cost their size. Each data module registers the classes holding its data (`strip`): the pickler
writes those objects without that data, and the restore gives them an empty container that the
data module then fills from its log. CloudWatch Logs events are stripped the same way and not kept
(the function logs stay in `<state>/logs/lambda/`).

What pickle cannot write is replaced: locks by new locks, weak-value dictionaries by their content
(rebuilt weak); a reference to another service's backend is written as its name and resolved to
the live backend at restore.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import Flusher, read_snapshot, write_snapshot

log = logging.getLogger("localcloud.persistence")

FORMAT = 1
_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())
# class -> {attribute: factory of its empty value at restore} for the data kept elsewhere.
_STRIPPED: dict[type, dict[str, Callable[[], Any] | None]] = {}
NOT_PERSISTED = frozenset({"sts", "moto_api", "instance_metadata"})
"""Services whose state is not kept: temporary credentials, moto's own API."""


def strip(cls: type, **attributes: Callable[[], Any] | None) -> None:
    """Write `cls` objects without these attributes; at restore each gets `factory()` (None: unset)."""
    _STRIPPED.setdefault(cls, {}).update(attributes)


def _stripped_attributes(cls: type) -> dict[str, Callable[[], Any] | None] | None:
    for klass in cls.__mro__:
        if klass in _STRIPPED:
            return _STRIPPED[klass]
    return None


def _blank(cls: type, names: tuple[str, ...]) -> Any:
    """An object of `cls` with only its stripped attributes, empty (pickle then applies the rest;
    the data module fills them from its log)."""
    obj: Any = object.__new__(cls)
    factories = _stripped_attributes(cls) or {}
    for name in names:
        factory = factories.get(name)
        if factory is not None:
            obj.__dict__[name] = factory()
    return obj


def _new_lock(reentrant: bool):
    return threading.RLock() if reentrant else threading.Lock()


def _weak_values(content: dict) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(content)


_PICKLABLE_FACTORIES = (None, dict, list, set, int, float, str)


def _defaultdict(factory: type, content: dict) -> defaultdict:
    return defaultdict(factory, content)


class _Pickler(pickle.Pickler):
    def __init__(self, file, root: Any, others: dict[int, tuple[str, str, str]]):
        super().__init__(file, protocol=5)
        self.root, self.others = root, others
        self.cross_references: set[tuple[str, str, str]] = set()

    def persistent_id(self, obj: Any):
        ref = self.others.get(id(obj))
        if ref is not None and obj is not self.root:
            self.cross_references.add(ref)
            return ref
        return None

    def reducer_override(self, obj: Any):
        kind = type(obj)
        if kind is _LOCK or kind is _RLOCK:
            return _new_lock, (kind is _RLOCK,)
        if kind is weakref.WeakValueDictionary:
            return _weak_values, (dict(obj),)
        if kind is defaultdict and obj.default_factory not in _PICKLABLE_FACTORIES:
            sample = obj.default_factory() if obj.default_factory is not None else None
            if type(sample) in _PICKLABLE_FACTORIES:  # `defaultdict(lambda: {})` and the like
                return _defaultdict, (type(sample), dict(obj))
        stripped = _stripped_attributes(kind) if hasattr(obj, "__dict__") else None
        if stripped is None:
            return NotImplemented
        state = {k: v for k, v in obj.__dict__.items() if k not in stripped}
        return _blank, (kind, tuple(stripped)), state


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, ref):
        from moto.backends import get_backend

        service, account, region = ref
        return get_backend(service)[account][region]


def backend_dict(service: str):
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]  # any service, by its name


def _all_backends() -> dict[int, tuple[str, str, str]]:
    """id(backend) -> (service, account, region) of every backend moto has built."""
    from moto.core.base_backend import BackendDict

    found = {}
    for bd in list(BackendDict._instances):  # type: ignore[misc]  # moto's registry of every BackendDict
        for account, region, backend in list(bd.iter_backends()):
            found[id(backend)] = (bd.service_name, account, region)
    return found


class Snapshots:
    """Write and restore the per-service snapshots under `<root>/snapshots/`."""

    def __init__(self, root: Path, flusher: Flusher, header: dict[str, Any]):
        self.dir = Path(root) / "snapshots"
        self.flusher, self.header = flusher, header
        self.locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self.written = 0

    def lock(self, service: str) -> threading.RLock:
        """Held across a control-plane change and its snapshot, so snapshots land in change order."""
        with self._locks_lock:
            return self.locks.setdefault(service, threading.RLock())

    def path(self, service: str) -> Path:
        return self.dir / f"{service}.pickle"

    def write(self, service: str) -> None:
        """Snapshot every account and region of `service` (its data stripped)."""
        if service in NOT_PERSISTED:
            return
        backends = list(backend_dict(service).iter_backends())
        buffer = io.BytesIO()
        others = {k: v for k, v in _all_backends().items() if v[0] != service}
        pickler = _Pickler(buffer, None, others)
        pickler.dump({"header": self.header, "service": service})
        for account, region, backend in backends:
            pickler.root = backend
            pickler.dump((account, region, backend))
        if pickler.cross_references:
            log.debug("snapshot %s refers to %s", service, sorted(pickler.cross_references))
        write_snapshot(self.path(service), buffer.getvalue(), self.flusher)
        self.written += 1

    def services(self) -> list[str]:
        names = {p.name.split(".", 1)[0] for p in self.dir.glob("*.pickle*")}
        return sorted(n for n in names if n not in NOT_PERSISTED)

    def restore(self, service: str, report) -> int:
        """Load the service's snapshot into moto; returns the number of backends restored."""
        for path, data in read_snapshot(self.path(service)):
            try:
                restored = self._load(service, data)
            except Exception as exc:  # noqa: BLE001 - a torn file from a machine crash (any unpickling error): the previous one may do
                report.problem(f"snapshot {path.name} is unreadable ({type(exc).__name__}: {exc})")
                continue
            if path.suffix == ".prev":
                report.problem(f"{service}: used the snapshot before the last one ({path.name})")
            return restored
        return 0

    def _load(self, service: str, data: bytes) -> int:
        unpickler = _Unpickler(io.BytesIO(data))
        head = unpickler.load()
        check_header(head.get("header", {}), self.header, f"snapshot of {service}")
        loaded = []
        while True:
            try:
                loaded.append(unpickler.load())
            except EOFError:
                break
        target = backend_dict(service)
        for account, region, backend in loaded:
            dict.__setitem__(target[account], region, backend)
        return len(loaded)


class IncompatibleState(RuntimeError):
    """The state was written by another moto (or format): restoring it could corrupt it silently."""


def check_header(found: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    if found != expected:
        raise IncompatibleState(
            f"{what} was written by {found or 'an unknown writer'}, this server is {expected}: "
            "keep the moto version it was written with, or remove the state folder's moto/ "
            "(`make clean` removes everything) to start empty"
        )
