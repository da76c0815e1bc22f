"""Template mode under test: a copy of the working tree synthesized once per session, and clouds
started from a cloud assembly (`up --from`).

`copy_tree(dest)` copies what git tracks (and untracked files it does not ignore) plus the cached
Lambda layer (build/lambda/layer-*: building it needs PyPI), then `python -m deploy synth` runs in
the copy, with the copy first on the path. The proof test then breaks the copy's deployment code
(`break_deployment_code`) and starts the cloud *from the copy* (`start_from_copy`: the cloud's
processes import the copy's `emulation` and, if anything leaked, its broken `pipeline`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from emulation.config import REPO_ROOT, free_ports

BROKEN = 'raise ImportError("working tree used: {path}")\n'
DEPLOYMENT_CODE = ("pipeline/handlers", "pipeline/glue")


@dataclass(frozen=True)
class Tree:
    root: Path
    assembly: Path
    synth_seconds: float


def tree_files(repo: Path = REPO_ROOT) -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=repo, capture_output=True, check=True)
    return [f for f in done.stdout.decode().split("\0") if f and (repo / f).is_file()]


def copy_tree(dest: Path) -> Tree:
    for name in tree_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    for layer in (REPO_ROOT / "build" / "lambda").glob("layer-*"):
        if (layer / ".complete").exists():
            shutil.copytree(layer, dest / "build" / "lambda" / layer.name, symlinks=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "deploy", "synth"], cwd=dest, env=tree_env(dest),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"synth in the copy failed:\n{done.stderr[-3000:]}")
    return Tree(dest, dest / "cdk.out", time.monotonic() - started)


def tree_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a process that must import `root`'s packages, not the worktree's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOCALCLOUD_", "AWS_")) and k not in ("WAREHOUSE_DSN", "PYTHONPATH")}
    return {**env, "PYTHONPATH": str(root), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **extra}


def break_deployment_code(root: Path) -> list[Path]:
    """Replace every module of pipeline/handlers and pipeline/glue by one that refuses to import."""
    broken = []
    for folder in DEPLOYMENT_CODE:
        for module in sorted((root / folder).rglob("*.py")):
            module.write_text(BROKEN.format(path=module.relative_to(root)))
            broken.append(module)
    return broken


def start_from_copy(root: Path, assembly: Path, state: Path) -> subprocess.CompletedProcess:
    """`python -m emulation up --from <assembly>` run by the copy, on free ports."""
    ports = free_ports(4)
    env = tree_env(root, LOCALCLOUD_STATE_DIR=str(state), LOCALCLOUD_AWS_PORT=str(ports[0]),
                   LOCALCLOUD_API_PORT=str(ports[1]), LOCALCLOUD_RUNTIME_PORT=str(ports[2]),
                   LOCALCLOUD_WAREHOUSE_PORT=str(ports[3]))
    return subprocess.run([sys.executable, "-m", "emulation", "up", "--from", str(assembly)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def edit_template(assembly: Path, edit) -> dict:
    """Apply `edit(resources)` to the assembly's stack template in place; returns the template."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    stack = next(a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack")
    path = assembly / stack["properties"]["templateFile"]
    template = json.loads(path.read_text())
    edit(template["Resources"])
    path.write_text(json.dumps(template, indent=1))
    return template


def of_type(resources: dict, kind: str, **properties) -> str:
    """The logical id of the one resource of `kind` whose properties include `properties`."""
    found = [lid for lid, r in resources.items() if r["Type"] == kind
             and all(r.get("Properties", {}).get(k) == v for k, v in properties.items())]
    if len(found) != 1:
        raise LookupError(f"{len(found)} resources of type {kind} with {properties}")
    return found[0]
