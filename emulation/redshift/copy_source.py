"""Where a Redshift COPY reads from: the objects under an S3 prefix or in a manifest, gunzipped.

`resolve_sources` lists what a COPY loads, in load order; `object_chunks` streams one object's
bytes (never the whole object in memory); `read_ahead` does that for every object in a background
thread, so the next chunk is fetched and gunzipped while the caller converts the current one.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import gzip
import io
import json
import queue
import threading
import zlib
from collections.abc import Generator, Iterator

from .copy_options import CopyCommand, CopyError, split_s3_url

CHUNK = 4 * 1024 * 1024
_END = object()


def resolve_sources(s3, cmd: CopyCommand) -> list[str]:
    """The `s3://` URLs a COPY reads, in load order."""
    bucket, key = cmd.bucket_and_key
    if cmd.manifest:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise CopyError(f"COPY: manifest {cmd.source} does not exist") from None
        try:
            entries = json.loads(body)["entries"]
        except (ValueError, KeyError, TypeError):
            raise CopyError(f"COPY: manifest {cmd.source} is not a Redshift manifest") from None
        urls = []
        for entry in entries:
            b, k = split_s3_url(entry["url"])
            if _exists(s3, b, k):
                urls.append(entry["url"])
            elif entry.get("mandatory", False):
                raise CopyError(f"COPY: mandatory manifest entry {entry['url']} does not exist")
        return urls
    urls = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        urls += [
            f"s3://{bucket}/{o['Key']}"
            for o in page.get("Contents", [])
            if not o["Key"].endswith("/")
        ]
    if not urls:
        raise CopyError(
            f"COPY: the specified S3 prefix '{key}' in bucket '{bucket}' holds no object"
        )
    return urls


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:  # noqa: BLE001 - missing, forbidden or unreachable: the entry is not there
        return False


def object_chunks(s3, url: str, gzipped: bool, ignore_header: int = 0) -> Iterator[bytes]:
    """The object's bytes after `ignore_header` lines, gunzipped when asked, in chunks."""
    skip = ignore_header
    for data in _raw_chunks(s3, url, gzipped):
        while skip and data:
            cut = data.find(b"\n")
            if cut < 0:
                data = b""
                break
            data, skip = data[cut + 1 :], skip - 1
        if data:
            yield data


def _raw_chunks(s3, url: str, gzipped: bool) -> Iterator[bytes]:
    bucket, key = split_s3_url(url)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    while True:
        data = body.read(CHUNK)
        if not data:
            break
        if inflate is not None:
            try:
                data = inflate.decompress(data)
                while inflate.unused_data:  # concatenated gzip members (gzip spec allows them)
                    rest = inflate.unused_data
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data += inflate.decompress(rest)
            except zlib.error as exc:
                raise CopyError(
                    f"COPY: {url} is not gzip data ({exc}); drop GZIP or fix the object"
                ) from None
        if data:
            yield data
    if inflate is not None:
        tail = inflate.flush()
        if tail:
            yield tail


def read_ahead(
    s3, urls: list[str], cmd: CopyCommand, depth: int = 4
) -> Generator[tuple[str, bytes | None], None, None]:
    """(url, chunk) for every object in order, then (url, None) at each object's end; a thread
    reads and gunzips up to `depth` chunks ahead (socket reads and zlib release the GIL)."""
    pipe: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                pipe.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for url in urls:
                for data in object_chunks(s3, url, cmd.gzip, cmd.ignore_header):
                    if not put((url, data)):
                        return
                if not put((url, None)):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    reader = threading.Thread(target=produce, name="copy-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = pipe.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)


def gzip_bytes(data: bytes) -> bytes:
    """gzip at a fast level (Firehose's intermediate objects and the tests use it)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0) as f:
        f.write(data)
    return buf.getvalue()
