"""Package the Lambda code without Docker: one code asset and one dependency layer, built locally.

CDK's `PythonFunction` bundles inside a Docker image, which build machines here lack. Instead:
- the code asset holds only what the handlers run: `pipeline/handlers/` and the domain modules
  they import (`CODE_INCLUDES`, an include list: tooling added to `pipeline/` later, such as the
  source reader, reconciliation, cost or OpenAPI generation, stays out until listed;
  tests/unit/test_lambda_bundle.py imports every handler from the asset alone);
- the layer holds `[project.dependencies]` (pydantic, aws-lambda-powertools) at the versions the
  tests ran with, installed by pip for Lambda's platform (manylinux2014 x86_64, CPython 3.11) with
  binary wheels only, so pydantic-core is the Linux build whatever machine runs `make synth`.
Both live under `build/lambda/` and are reused while their inputs are unchanged (keyed by a hash).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build" / "lambda"
PYTHON_VERSION = "3.11"
"""Lambda runtime python3.11: the version Glue 5.0 runs and the tests run, so one set of wheels."""
PLATFORM = "manylinux2014_x86_64"
# What the Lambda functions run: the handlers and the domain modules they import, nothing else.
CODE_INCLUDES = (
    "pipeline/__init__.py",
    "pipeline/handlers/*.py",
    "pipeline/archive.py",
    "pipeline/backoff.py",
    "pipeline/claims.py",
    "pipeline/customers.py",
    "pipeline/dates.py",
    "pipeline/events.py",
    "pipeline/fields.py",
    "pipeline/ingest.py",
    "pipeline/invoice_pages.py",
    "pipeline/projections.py",
    "pipeline/resource_schema.py",
    "pipeline/resources.py",
)
FIRST_PARTY = ("pipeline",)
"""Packages of this repository a Glue script may import (bundled into --extra-py-files)."""


class BundlingError(RuntimeError):
    """The Lambda layer could not be built (no network to PyPI and no cached build)."""


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """`[project.dependencies]` pinned to the versions installed here (what the tests exercised)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pinned = []
    for dep in deps:
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(dep)
    return sorted(pinned)


def build_code(dest: Path = BUILD_DIR / "code") -> Path:
    """Copy the files of `CODE_INCLUDES` into `dest`, keeping their paths (the function code asset)."""
    if dest.exists():
        shutil.rmtree(dest)
    for pattern in CODE_INCLUDES:
        files = sorted(REPO_ROOT.glob(pattern))
        if not files:
            raise BundlingError(f"CODE_INCLUDES: {pattern} matches no file")
        for source in files:
            target = dest / source.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def build_glue_libs(
    script: Path | None = None, dest: Path = BUILD_DIR / "glue" / "pipeline_glue.zip"
) -> Path:
    """Zip every first-party module the Glue script imports (computed, `deploy.import_closure`)
    for the job's `--extra-py-files`; stable timestamps so the asset hash changes only with code."""
    import zipfile

    from .import_closure import first_party_closure

    script = script or REPO_ROOT / _glue_script()
    files = first_party_closure(script, REPO_ROOT, FIRST_PARTY)
    if not files:
        raise BundlingError(f"{script} imports nothing from {FIRST_PARTY}: is it the job script?")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            info = zipfile.ZipInfo(str(f.relative_to(REPO_ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, f.read_bytes())
    return dest


def _glue_script() -> str:
    from pipeline.resources import PIPELINE

    scripts = {job.script for job in PIPELINE.glue_jobs}
    if len(scripts) != 1:
        raise BundlingError(f"pass the script: the description has {len(scripts)} Glue scripts")
    return scripts.pop()


def build_layer(requirements: list[str] | None = None, root: Path = BUILD_DIR) -> Path:
    """Install the runtime dependencies into `<root>/layer-<hash>/python` once; return that folder's parent."""
    reqs = requirements if requirements is not None else runtime_requirements()
    key = hashlib.sha256("\n".join([PLATFORM, PYTHON_VERSION, *reqs]).encode()).hexdigest()[:16]
    layer = root / f"layer-{key}"
    done = layer / ".complete"
    if done.exists():
        return layer
    if layer.exists():
        shutil.rmtree(layer)
    target = layer / "python"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        *reqs,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BundlingError(
            f"building the Lambda layer ({' '.join(reqs)}) failed; pip needs PyPI the first time "
            f"(later runs reuse {root}):\n{proc.stderr.strip()[-2000:]}"
        )
    for junk in target.rglob("__pycache__"):
        shutil.rmtree(junk, ignore_errors=True)
    done.write_text("\n".join(reqs) + "\n")
    return layer
