"""The S3 side of Firehose's Redshift delivery: object keys, intermediate objects, manifests.

Key layout (AWS: `<prefix><YYYY/MM/dd/HH/><stream>-<version>-<YYYY-MM-dd-HH-mm-ss>-<uuid>`, UTC,
the time of the oldest record in the object; a prefix without `!{timestamp}` expressions gets the
default `YYYY/MM/dd/HH/` appended):
    <prefix>2026/01/31/23/sales-to-warehouse-1-2026-01-31-23-59-58-<uuid>.gz      data (gzip)
    <prefix>manifests/2026/01/31/23/sales-to-warehouse-1-...-<uuid>              COPY manifest
    <errors_prefix>manifests/2026/01/31/23/sales-to-warehouse-1-...-<uuid>       skipped load
The delivery stream version is always 1 (the local cloud never updates a delivery stream).
"""

from __future__ import annotations

import json
import time
import uuid

from emulation.redshift.copy_source import gzip_bytes  # not .copy: that imports psycopg

VERSION = 1


def _stamp(epoch: float) -> tuple[str, str]:
    t = time.gmtime(epoch)
    return time.strftime("%Y/%m/%d/%H/", t), time.strftime("%Y-%m-%d-%H-%M-%S", t)


def object_name(stream: str, oldest_arrival: float) -> tuple[str, str]:
    """(hour folder, file name) for a buffer whose oldest record arrived at `oldest_arrival`."""
    folder, stamp = _stamp(oldest_arrival)
    return folder, f"{stream}-{VERSION}-{stamp}-{uuid.uuid4()}"


def concatenate(records: list[bytes]) -> bytes:
    """Firehose concatenates record data as it is; a record without a trailing newline gets one
    (the stand-in's COPY reads one JSON object per line, see emulation.redshift.copy)."""
    return b"".join(r if r.endswith(b"\n") else r + b"\n" for r in records)


def manifest(urls: list[str]) -> bytes:
    return json.dumps({"entries": [{"url": u, "mandatory": True} for u in urls]}).encode()


class StagingWriter:
    def __init__(self, s3, bucket: str, prefix: str, errors_prefix: str, stream: str):
        self.s3, self.bucket, self.stream = s3, bucket, stream
        self.prefix, self.errors_prefix = prefix, errors_prefix

    def write_batch(self, records: list[bytes], oldest_arrival: float) -> tuple[str, str]:
        """Write the gzip intermediate object and its manifest; returns (object URL, manifest URL)."""
        folder, name = object_name(self.stream, oldest_arrival)
        data_key = f"{self.prefix}{folder}{name}.gz"
        self.s3.put_object(Bucket=self.bucket, Key=data_key, Body=gzip_bytes(concatenate(records)))
        url = f"s3://{self.bucket}/{data_key}"
        manifest_key = f"{self.prefix}manifests/{folder}{name}"
        self.s3.put_object(Bucket=self.bucket, Key=manifest_key, Body=manifest([url]))
        return url, f"s3://{self.bucket}/{manifest_key}"

    def write_error_manifest(self, manifest_url: str, data_urls: list[str]) -> str:
        """Record a skipped load under the errors prefix, for `recover` (AWS: errors/ manifests)."""
        rest = manifest_url.split("/manifests/", 1)[1]
        key = f"{self.errors_prefix}manifests/{rest}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=manifest(data_urls))
        return f"s3://{self.bucket}/{key}"

    def error_manifests(self) -> list[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.errors_prefix}manifests/"
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def mark_recovered(self, key: str) -> str:
        """Move a recovered error manifest to `<errors_prefix>recovered/` (kept, never re-run)."""
        target = key.replace(
            f"{self.errors_prefix}manifests/", f"{self.errors_prefix}recovered/", 1
        )
        self.s3.copy_object(
            Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key}
        )
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return target
