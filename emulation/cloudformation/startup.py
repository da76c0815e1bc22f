"""What `up --from cdk.out` does before starting the cloud: make sure the assembly is current
(synthesize when it is missing or older than the sources, saying so), translate it, and list what
of it runs, runs partly and does not run, with the constraints it breaks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .assembly import TemplateError
from .resource_types import NOT_EMULATED, PARTLY, RUNS, summary

# What a synthesis reads: the CDK app, the code it packages, the project's pins.
SOURCES = ("deploy/**/*.py", "pipeline/**/*.py", "pipeline/**/*.sql", "pyproject.toml")


def from_template(outdir: Path, out: Callable[[str], None]) -> str:
    """`up --from`: the `CloudConfig.resources` spec of the assembly in `outdir`, after making sure
    it is current and printing what of it runs; raises TemplateError when it cannot run."""
    from emulation.config import REPO_ROOT

    from .translate import describe, spec_for

    ensure_synthesized(outdir, REPO_ROOT, out)
    resources = describe(outdir)
    for line in report(resources):
        out(line)
    return spec_for(outdir)


def newest_source(repo_root: Path) -> tuple[float, Path | None]:
    newest, which = 0.0, None
    for pattern in SOURCES:
        for path in repo_root.glob(pattern):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            mtime = path.stat().st_mtime
            if mtime > newest:
                newest, which = mtime, path
    return newest, which


def ensure_synthesized(outdir: Path, repo_root: Path, out: Callable[[str], None]) -> None:
    """Synthesize `repo_root/cdk.out` when it is missing or older than the sources; an assembly
    elsewhere is used as it is (a missing one is an error naming `make synth`)."""
    manifest = outdir / "manifest.json"
    ours = outdir.resolve() == (repo_root / "cdk.out").resolve()
    newest, source = newest_source(repo_root)
    if manifest.exists() and (not ours or manifest.stat().st_mtime >= newest):
        return
    if not ours:
        raise TemplateError(
            f"no cloud assembly in {outdir} (no manifest.json): synthesize it first"
        )
    why = (
        "missing"
        if not manifest.exists() or source is None
        else f"older than {source.relative_to(repo_root)}"
    )
    out(f"  template   {outdir.name} is {why}: synthesizing (python -m deploy synth)")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "synth"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise TemplateError(
            f"`python -m deploy synth` failed:\n{(done.stderr or done.stdout).strip()[-3000:]}"
        )
    out(f"  template   synthesized in {time.monotonic() - started:.1f} s")


def report(resources) -> list[str]:
    """Start-up lines: the template, what runs / partly / not, and the constraints it breaks."""
    from .assembly import read_stack

    stack = read_stack(resources.assembly)
    count = len(stack.template.get("Resources", {}))
    age = time.time() - stack.template_path.stat().st_mtime
    lines = [f"  template   {stack.template_path} ({count} resources, synthesized {_ago(age)} ago)"]
    groups = summary(stack.template, resources.not_run)
    runs = groups[RUNS]
    lines.append(
        f"    runs ({sum(n for _, n, _ in runs)}): " + ", ".join(_counted(k, n) for k, n, _ in runs)
    )
    lines.append(f"    emulated partly ({sum(n for _, n, _ in groups[PARTLY])}):")
    lines += [f"      {_counted(k, n)}: {note}" for k, n, note in groups[PARTLY]]
    lines.append(f"    not emulated ({sum(n for _, n, _ in groups[NOT_EMULATED])}):")
    lines += [f"      {_counted(k, n)}: {note}" for k, n, note in groups[NOT_EMULATED]]
    for problem in resources.problems:
        lines.append(f"  WARNING    {problem}")
    for fh in resources.firehoses:
        if fh.unreachable:
            lines.append(
                f"  WARNING    so every COPY of {fh.name} fails, as on AWS: after retrying for "
                f"{fh.retry_duration_s} s its manifests go to s3://{fh.staging_bucket}/{fh.errors_prefix}"
            )
    return lines


def _counted(kind: str, n: int) -> str:
    return kind if n == 1 else f"{kind} x{n}"


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
