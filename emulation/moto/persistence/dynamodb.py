"""DynamoDB items on disk: one append-only log per table of item states, read back lazily.

`<root>/dynamodb/<table>-<identity>.log` (identity: a digest of the table's ARN and creation time).
One frame per changed item: `<4-byte length of key><key><state>`, the key being the pickled
(hash, range) attribute values and the state the pickled attribute map in the form moto builds an
item from (empty: deleted). The last frame of a key is its state; earlier ones are garbage that a
restore drops (the log is rewritten when it holds more than twice the live items).

What is written for a request, while the backend's write lock is held (so the log's order is the
order the items changed in), before its response leaves:
- PutItem and the puts of BatchWriteItem: the item as sent (no re-encoding of moto's objects);
- DeleteItem and the deletes of BatchWriteItem: a tombstone;
- UpdateItem, TransactWriteItems (moto may roll the tables back), a failed request (it may have
  applied part of its writes), PartiQL writes (their table, whole): each named item's state as moto
  now holds it.

A restore does not build moto's items (a full dataset is millions of attribute objects, seconds
of CPU): each table gets a `LazyItems` dict whose values stay pickled until first read, and a
background thread builds them afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import struct
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .files import AppendLog, Flusher, OpenLogs, read_frames, rewrite_frames

log = logging.getLogger("localcloud.persistence")

KEY = struct.Struct("<I")
WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items",
          "execute_statement", "batch_execute_statement", "execute_transaction")  # fmt: skip
_PARTIQL_TABLE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([\w.-]+)', re.I)
_original: dict[str, Any] = {}
_active: DynamoLogs | None = None


class _Raw:
    """An item still pickled: built on first read."""

    __slots__ = ("hash_key", "range_key", "state")

    def __init__(self, hash_key, range_key, state: bytes):
        self.hash_key, self.range_key, self.state = hash_key, range_key, state

    def build(self):
        from moto.dynamodb.models.dynamo_type import Item

        return Item(self.hash_key, self.range_key, pickle.loads(self.state))


class LazyItems(defaultdict):
    """moto's `Table.items` (or one hash key's range items) whose restored values are built when
    first read; every read path of moto (`[]`, get, pop, values, items, deepcopy) goes through one.
    A build and a write of the same key never interleave (both hold the lock), so a write made
    while the background thread builds that key's old value is never overwritten by it."""

    def __init__(self):
        super().__init__(dict)
        self._lock = threading.Lock()

    def _built(self, key, value):
        with self._lock:
            current = dict.get(self, key)
            if type(current) is _Raw:
                current = current.build()
                dict.__setitem__(self, key, current)
            elif current is None:  # deleted since it was read: the value as read
                current = value.build()
        return current

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        return self._built(key, value) if type(value) is _Raw else value

    def get(self, key, default=None):
        value = dict.get(self, key, default)
        return self._built(key, value) if type(value) is _Raw else value

    def pop(self, key, *default):
        with self._lock:
            value = dict.pop(self, key, *default)
        return value.build() if type(value) is _Raw else value

    def __setitem__(self, key, value):  # under the lock: a build in progress must not overwrite it
        with self._lock:
            dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        with self._lock:
            dict.__delitem__(self, key)

    def build_all(self) -> int:
        built = 0
        for key in list(dict.keys(self)):
            if type(dict.get(self, key)) is _Raw:
                self[key]
                built += 1
        return built

    def values(self):
        self.build_all()
        return dict.values(self)

    def items(self):
        self.build_all()
        return dict.items(self)

    def __deepcopy__(self, memo):
        import copy

        self.build_all()
        result = defaultdict(dict)
        for key, value in dict.items(self):
            result[copy.deepcopy(key, memo)] = copy.deepcopy(value, memo)
        return result


def plain(item) -> dict[str, Any]:
    """An item's attributes in the form moto builds an item from (what a request sends)."""
    return {name: _plain(value) for name, value in item.attrs.items()}


def _plain(value) -> dict[str, Any]:
    if value.type == "L":
        return {"L": [_plain(v) for v in value.value]}
    if value.type == "M":
        return {"M": {k: _plain(v) for k, v in value.value.items()}}
    return {value.type: value.value}


class DynamoLogs(OpenLogs):
    def __init__(self, root: Path, flusher: Flusher):
        super().__init__(root, "dynamodb", flusher)
        self.write_locks: dict[int, threading.RLock] = {}
        self._lazy: list[LazyItems] = []

    def write_lock(self, backend) -> threading.RLock:
        with self._lock:
            return self.write_locks.setdefault(id(backend), threading.RLock())

    def path(self, table) -> Path:
        identity = hashlib.sha256(f"{table.table_arn}|{table.created_at!r}".encode()).hexdigest()[
            :12
        ]
        return self.dir / f"{table.name}-{identity}.log"

    def _log(self, table) -> AppendLog:
        return self._open(self.path(table))

    # -- writing -------------------------------------------------------------------------------
    def record(self, backend, action: str, body: dict[str, Any], ok: bool) -> None:
        """Log what `action` (a DynamoHandler method) with request `body` changed."""
        changes: dict[
            str, list[tuple[dict, dict | None, bool]]
        ] = {}  # table -> (key, item, read back)

        def put(table: str, item: dict) -> None:
            changes.setdefault(table, []).append((item, item if ok else None, not ok))

        def named(table: str, key: dict) -> None:
            changes.setdefault(table, []).append((key, None, True))

        def delete(table: str, key: dict) -> None:
            changes.setdefault(table, []).append((key, None, not ok))

        if action == "put_item":
            put(body["TableName"], body["Item"])
        elif action == "delete_item":
            delete(body["TableName"], body["Key"])
        elif action == "update_item":
            named(body["TableName"], body["Key"])
        elif action == "batch_write_item":
            for table, requests in (body.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        put(table, request["PutRequest"]["Item"])
                    elif "DeleteRequest" in request:
                        delete(table, request["DeleteRequest"]["Key"])
        elif action == "transact_write_items":
            for entry in body.get("TransactItems") or []:
                for op in entry.values():
                    named(op["TableName"], op.get("Item") or op.get("Key") or {})
        else:  # PartiQL: the statement's table, whole
            statements = body.get("Statements") or body.get("TransactStatements") or [body]
            for statement in statements:
                match = _PARTIQL_TABLE.match(statement.get("Statement", ""))
                if match:
                    changes.setdefault(match.group(1), []).append(({}, None, True))
        for table_name, entries in changes.items():
            try:
                table = backend.get_table(table_name)
            except Exception:  # noqa: BLE001 - no such table: the request changed nothing there
                continue
            self._log(table).append(list(self._frames(table, entries)))

    def _frames(self, table, entries):
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
        for key, item, read_back in entries:
            if not key:  # a whole table (PartiQL)
                yield from self._dump(table)
                continue
            if hash_attr not in key or (range_attr and range_attr not in key):
                continue  # refused by moto: nothing changed
            ident = (key[hash_attr], key.get(range_attr) if range_attr else None)
            if read_back:
                current = table.get_item(
                    DynamoType(ident[0]), DynamoType(ident[1]) if ident[1] else None
                )
                item = plain(current) if current is not None else None
            yield encode(ident, item)

    def _dump(self, table):
        for stored in _all_items(table):
            ident = (
                _plain(stored.hash_key),
                _plain(stored.range_key) if stored.range_key else None,
            )
            yield encode(ident, plain(stored))

    def sync(self, backends) -> None:
        """After a control-plane change: a table created with items (a restored backup) is written
        whole, and the logs of tables that no longer exist are removed."""
        live = set()
        for backend in backends:
            with self.write_lock(backend):
                for table in list(backend.tables.values()):
                    path = self.path(table)
                    live.add(path)
                    if not path.exists() and len(table.items):
                        self._log(table).append(list(self._dump(table)))
        self._remove_logs_except(live)

    # -- restoring -----------------------------------------------------------------------------
    def restore(self, backends, report) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        per_table = []
        for backend in backends:
            for table in backend.tables.values():
                path = self.path(table)
                frames, torn = read_frames(path)
                latest: dict[bytes, tuple[bytes, bytes]] = {}
                for frame in frames:
                    (size,) = KEY.unpack_from(frame)
                    key = frame[4 : 4 + size]
                    latest.pop(key, None)  # re-inserted: the dict keeps the order of last writes
                    latest[key] = (key, frame)
                live = [(key, frame) for key, frame in latest.values() if len(frame) > 4 + len(key)]
                items = LazyItems() if not table.range_key_attr else defaultdict(dict)
                for key, frame in live:
                    hash_plain, range_plain = pickle.loads(key)
                    hash_key = DynamoType(hash_plain)
                    range_key = DynamoType(range_plain) if range_plain is not None else None
                    raw = _Raw(hash_key, range_key, frame[4 + len(key) :])
                    if range_key is None:
                        dict.__setitem__(items, hash_key, raw)
                    else:
                        inner = items.get(hash_key)
                        if not isinstance(inner, LazyItems):
                            inner = items[hash_key] = LazyItems()
                        dict.__setitem__(inner, range_key, raw)
                table.items = items
                self._lazy.extend([items] if range_key_free(table) else list(items.values()))  # type: ignore[list-item]
                if torn:
                    report.problem(
                        f"DynamoDB {table.name}: a torn last write ({torn} bytes, never "
                        "acknowledged) was dropped"
                    )
                if len(frames) > 2 * len(live) + 1000 or torn:
                    rewrite_frames(path, [frame for _key, frame in live], self.flusher)
                per_table.append(f"{table.name} {len(live):,}")
                report.add("DynamoDB items", len(live))
        if per_table:
            report.detail("DynamoDB items", ", ".join(per_table))

    def build_in_background(self) -> threading.Thread:
        """Build the restored items now, a slice at a time (reads build theirs first anyway)."""

        def run() -> None:
            started, built = time.monotonic(), 0
            for items in self._lazy:
                for key in list(dict.keys(items)):
                    if type(dict.get(items, key)) is _Raw:
                        items[key]
                        built += 1
                        if built % 500 == 0:
                            time.sleep(0)  # let requests in
            self._lazy.clear()
            if built:
                log.info(
                    "built %d restored DynamoDB items in %.1f s", built, time.monotonic() - started
                )

        thread = threading.Thread(target=run, name="persistence-dynamodb-build", daemon=True)
        thread.start()
        return thread


def range_key_free(table) -> bool:
    return not table.range_key_attr


def _all_items(table):
    if table.range_key_attr:
        for inner in list(table.items.values()):
            yield from list(inner.values())
    else:
        yield from list(table.items.values())


def encode(ident: tuple, item: dict | None) -> bytes:
    key = pickle.dumps(ident, protocol=5)
    state = pickle.dumps(item, protocol=5) if item is not None else b""
    return KEY.pack(len(key)) + key + state


def _wrap(name: str):
    original = _original[name]

    def write(self):
        backend = self.dynamodb_backend
        with _active.write_lock(backend):
            ok = False
            try:
                result = original(self)
                ok = True
                return result
            finally:
                _active.record(backend, name, self.body, ok)

    write.__name__ = name
    write.__doc__ = original.__doc__
    return write


def install(logs: DynamoLogs) -> None:
    """Log every item write moto's DynamoDB handler makes."""
    global _active
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    from .backends import strip

    _active = logs
    if not _original:
        for name in WRITES:
            _original[name] = getattr(DynamoHandler, name)
            setattr(DynamoHandler, name, _wrap(name))
    strip(Table, items=lambda: defaultdict(dict))
