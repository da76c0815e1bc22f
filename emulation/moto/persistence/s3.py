"""S3 objects on disk: one append-only log per bucket of object states (body and metadata).

`<root>/s3/<bucket>-<identity>.log` (identity: a digest of the bucket's name and creation time).
One frame per changed key: `<4-byte length of key name><key name><state>`, the state being the
pickled list of the key's versions as moto holds them (its FakeKey objects pickle their body and
every attribute: ETag, metadata, content type, last-modified, tags, checksums; an empty list:
deleted). The last frame of a key is its state; the log is rewritten at restore when it holds more
than twice the live keys.

Written, under one lock for S3 writes (so the log's order is the order the keys changed in), before
the response leaves: after any PUT, POST or DELETE on an object (PutObject, CopyObject,
CompleteMultipartUpload, DeleteObject, tagging, ACL, retention...), and for each key of a
DeleteObjects. Multipart uploads in progress (their parts) are not kept: after a restart of moto,
an upload is started again (the SDKs' transfer managers do so on the error). A restore also
rebuilds moto's bucket-name namespace (`s3_backends.bucket_accounts`), which lives outside the
backends: without it an idempotent CreateBucket replaced a restored bucket with an empty one.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import threading
from pathlib import Path
from typing import Any

from .files import AppendLog, Flusher, OpenLogs, read_frames, rewrite_frames

KEY = struct.Struct("<I")
_original: dict[str, Any] = {}
_active: S3Logs | None = None


class S3Logs(OpenLogs):
    def __init__(self, root: Path, flusher: Flusher):
        super().__init__(root, "s3", flusher)
        self.write_lock = threading.RLock()

    def path(self, bucket) -> Path:
        identity = hashlib.sha256(f"{bucket.name}|{bucket.creation_date!r}".encode()).hexdigest()[
            :12
        ]
        return self.dir / f"{bucket.name}-{identity}.log"

    def _log(self, bucket) -> AppendLog:
        return self._open(self.path(bucket))

    def record(self, backend, bucket_name: str, key_names: list[str]) -> None:
        """Log the current state of these keys of the bucket."""
        try:
            bucket = backend.get_bucket(bucket_name)
        except Exception:  # noqa: BLE001 - no such bucket: nothing changed
            return
        self._log(bucket).append(
            [encode(name, bucket.keys.getlist(name, [])) for name in key_names]
        )

    def sync(self, backends) -> None:
        """After a control-plane change: the logs of buckets that no longer exist are removed."""
        self._remove_logs_except(
            {self.path(b) for backend in backends for b in list(backend.buckets.values())}
        )

    def restore(self, backends, report) -> None:
        from moto.s3.models import s3_backends

        objects = 0
        for backend in backends:
            for bucket in backend.buckets.values():
                # moto's one namespace of bucket names lives beside the backends, not in them:
                # without it CreateBucket (idempotent in us-east-1, so every `up` provisions it)
                # would not see the bucket and would replace it with an empty one.
                s3_backends.bucket_accounts[bucket.name] = (bucket.partition, bucket.account_id)
                path = self.path(bucket)
                frames, torn = read_frames(path)
                latest: dict[bytes, bytes] = {}
                for frame in frames:
                    (size,) = KEY.unpack_from(frame)
                    name = frame[4 : 4 + size]
                    latest.pop(name, None)  # re-inserted: the dict keeps the order of last writes
                    latest[name] = frame
                live = []
                for name, frame in latest.items():
                    versions = pickle.loads(frame[4 + len(name) :])
                    if versions:
                        bucket.keys.setlist(name.decode(), versions)
                        live.append(frame)
                objects += len(live)
                if torn:
                    report.problem(
                        f"S3 {bucket.name}: a torn last write ({torn} bytes, never "
                        "acknowledged) was dropped"
                    )
                if len(frames) > 2 * len(live) + 100 or torn:
                    rewrite_frames(path, live, self.flusher)
        report.add("S3 objects", objects)


def encode(name: str, versions: list) -> bytes:
    key = name.encode()
    return KEY.pack(len(key)) + key + pickle.dumps(list(versions), protocol=5)


def _key_response(self, request, full_url, headers):
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return _original["key_response"](self, request, full_url, headers)
    with _active.write_lock:
        try:
            return _original["key_response"](self, request, full_url, headers)
        finally:
            try:
                bucket_name = self.parse_bucket_name_from_url(request, full_url)
                key_name = self.parse_key_name()
            except Exception:  # noqa: BLE001 - a request moto could not place changed nothing
                bucket_name = key_name = None
            if bucket_name and key_name:
                _active.record(self.backend, bucket_name, [key_name])


def _delete_objects(self, bucket_name, objects, *args, **kwargs):
    with _active.write_lock:
        try:
            return _original["delete_objects"](self, bucket_name, objects, *args, **kwargs)
        finally:
            _active.record(self, bucket_name, [o["Key"] for o in objects if "Key" in o])


def install(logs: S3Logs) -> None:
    """Log every object change moto's S3 makes."""
    global _active
    from moto.s3.models import FakeBucket, MultipartDict, S3Backend
    from moto.s3.responses import S3Response
    from moto.s3.utils import _VersionedKeyStore

    from .backends import strip

    _active = logs
    if not _original:
        _original.update(
            key_response=S3Response.key_response, delete_objects=S3Backend.delete_objects
        )
        S3Response.key_response = _key_response
        S3Backend.delete_objects = _delete_objects
    strip(FakeBucket, keys=_VersionedKeyStore, multiparts=MultipartDict)
