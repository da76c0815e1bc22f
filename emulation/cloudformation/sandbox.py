"""Import paths that hold the deployed artifact and its runtime, never the working tree.

The project is installed editable in the venv, so `import pipeline` would resolve to the working
tree from any interpreter with the venv's site-packages. Template mode therefore starts Lambda
workers and Glue job runs with `python -I -S` (no site, no PYTHONPATH, no current folder) and an
explicit `sys.path`:

- a Lambda function: its code asset folder, its layers (`python/lib/python3.11/site-packages` and
  `python/` of each, as Lambda mounts them under /opt), then the runtime folder: what the AWS
  python3.11 runtime provides (boto3 and its dependencies) and the worker bootstrap, a private
  package `localcloud_bootstrap` holding the two standard-library-only modules of the worker
  (`emulation` itself is not importable from a function);
- a Glue job run: the script's folder, the `--extra-py-files` (downloaded from S3 as Glue does),
  then the Glue runtime folder: glue_local's `awsglue`, pyspark and py4j, boto3, and what
  glue_local's Redshift sink loads through (the `emulation` package's Redshift stand-in with
  psycopg, orjson, sqlglot).

A runtime folder is a folder of symbolic links to the venv's distributions (their transitive
requirements included), built under `<state>/runtimes/` and rebuilt when its content would change.

Known gaps vs AWS: the interpreter is the venv's Python 3.11 (the standard library is the host's);
versions of boto3 & co. are the venv's, not the ones the Lambda runtime or Glue 5.0 ship.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

LAMBDA_PROVIDED = ("boto3",)
"""What the AWS Lambda python3.11 runtime provides besides the standard library (with its
dependencies: botocore, s3transfer, jmespath, python-dateutil, six, urllib3)."""
GLUE_PROVIDED = ("pyspark", "boto3", "psycopg[binary]", "orjson", "sqlglot")
"""pyspark for the script; boto3 and the Redshift stand-in's drivers for glue_local."""
BOOTSTRAP = "localcloud_bootstrap"


@dataclass(frozen=True)
class Launch:
    """How to start a process: the command before its own arguments, its folder, its variables."""

    command: tuple[str, ...]
    cwd: str
    env: dict[str, str]


def isolated_command(paths: list[str], run: str) -> tuple[str, ...]:
    """`python -I -S -u -c ...`: `sys.path` = `paths` + the standard library, then `run` runs."""
    boot = f"import sys; sys.path[:0] = {paths!r}; {run}"
    return (sys.executable, "-I", "-S", "-u", "-c", boot)


def lambda_worker(function, state_dir: Path | str) -> Launch:
    """The worker of an `AssetFunction`: its asset and layers, then the Lambda runtime folder."""
    from emulation.awslambda import context, worker

    runtime = runtime_folder(
        Path(state_dir) / "runtimes",
        "lambda-python3.11",
        LAMBDA_PROVIDED,
        bootstrap=(Path(worker.__file__), Path(context.__file__)),
    )
    paths = [function.code_dir]
    for layer in function.layer_dirs:
        paths += [
            str(Path(layer) / "python" / "lib" / "python3.11" / "site-packages"),
            str(Path(layer) / "python"),
        ]
    paths.append(str(runtime))
    run = f"import runpy; runpy.run_module({bootstrap_module()!r}, run_name='__main__', alter_sys=True)"
    return Launch(
        isolated_command(paths, run),
        function.code_dir,
        {"LAMBDA_TASK_ROOT": function.code_dir, "LAMBDA_RUNTIME_DIR": str(runtime)},
    )


def bootstrap_module() -> str:
    """The worker's module inside the bootstrap package (what a Lambda worker runs)."""
    from emulation.registry import LAMBDA_WORKER

    return f"{BOOTSTRAP}.{LAMBDA_WORKER.rsplit('.', 1)[-1]}"


def glue_job(script: Path, extra_files: list[Path], state_dir: Path | str) -> Launch:
    """A job run of the script asset: its folder, the --extra-py-files, then the Glue runtime."""
    import emulation

    glue_local = Path(emulation.__file__).resolve().parent.parent / "glue_local" / "awsglue"
    runtime = runtime_folder(
        Path(state_dir) / "runtimes",
        "glue-5.0",
        GLUE_PROVIDED,
        links={"awsglue": glue_local, "emulation": Path(emulation.__file__).parent},
    )
    paths = [str(script.parent), *(str(p) for p in extra_files), str(runtime)]
    run = "sys.argv = sys.argv[1:]; import runpy; runpy.run_path(sys.argv[0], run_name='__main__')"
    return Launch(isolated_command(paths, run), str(script.parent), {})


# -- runtime folders ---------------------------------------------------------------------------
def requirement_closure(requirements: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions `requirements` need, transitively (extras followed, markers
    evaluated for this interpreter)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [Requirement(r) for r in requirements]
    while pending:
        req = pending.pop()
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(
                f"{req.name} is not installed in {sys.prefix}: run `make install`"
            ) from None
        seen[key] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in wanted):
                pending.append(sub)
    return list(seen.values())


def top_level(dist: metadata.Distribution) -> set[Path]:
    """The importable top-level files and folders a distribution installed."""
    out = set()
    for file in dist.files or []:
        head = file.parts[0]
        if head in ("..", "__pycache__") or head.endswith((".dist-info", ".egg-info", ".pth")):
            continue
        if len(file.parts) == 1 and not head.endswith((".py", ".so")):
            continue
        out.add(Path(str(dist.locate_file(head))))
    return out


def runtime_folder(
    root: Path,
    name: str,
    provided: tuple[str, ...],
    *,
    links: dict[str, Path] | None = None,
    bootstrap: tuple[Path, ...] = (),
) -> Path:
    """`root/name`: links to what `provided` installs (+ `links`, + the bootstrap package)."""
    targets = {p.name: p for dist in requirement_closure(provided) for p in top_level(dist)}
    targets.update(links or {})
    stamp = hashlib.sha256(
        repr(sorted((k, str(v)) for k, v in targets.items())).encode()
        + repr([str(b) for b in bootstrap]).encode()
    ).hexdigest()[:16]
    folder = root / name
    if (folder / ".stamp").exists() and (folder / ".stamp").read_text() == stamp:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for link, target in targets.items():
        (folder / link).symlink_to(target)
    if bootstrap:
        package = folder / BOOTSTRAP
        package.mkdir()
        (package / "__init__.py").write_text(
            '"""The Lambda worker of the local cloud (see emulation.cloudformation.sandbox)."""\n'
        )
        for module in bootstrap:
            (package / module.name).symlink_to(module)
    (folder / ".stamp").write_text(stamp)  # last: a folder half built is rebuilt next time
    return folder
