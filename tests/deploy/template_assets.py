"""Find what a synthesized template points at: its resources by type and name, and the local files
(cdk.out/asset.*) behind the S3 URLs CDK writes for file assets."""

from __future__ import annotations

import re
from pathlib import Path

_ASSET_KEY = re.compile(r"/([0-9a-f]{64})(\.[A-Za-z0-9.]+)?$")


def asset_file(outdir: Path, s3_url) -> Path:
    """The cdk.out file behind `s3://cdk-...-assets-.../<hash>.<ext>` (a string or an Fn::Sub)."""
    text = s3_url["Fn::Sub"] if isinstance(s3_url, dict) else s3_url
    match = _ASSET_KEY.search(text)
    assert match, f"not a CDK file-asset URL: {s3_url!r}"
    digest, ext = match.group(1), match.group(2) or ""
    path = outdir / f"asset.{digest}{ext}"
    assert path.exists(), f"{s3_url!r}: {path} is not in the cloud assembly"
    return path


def glue_job(template: dict, name: str) -> dict:
    jobs = [r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::Glue::Job" and r["Properties"]["Name"] == name]
    assert len(jobs) == 1, f"{len(jobs)} Glue jobs named {name}"
    return jobs[0]
