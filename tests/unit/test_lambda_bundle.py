"""The Lambda code asset (`deploy.bundling.build_code`, an include list) holds every module the
handlers import: each handler imports in a clean interpreter (`python -I -S`) whose only paths are
the asset and the libraries Lambda has (the layer's pydantic and Powertools, the runtime's boto3),
so a domain module missing from `CODE_INCLUDES` fails here, not in AWS."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bundling import build_code
from pipeline.resources import PIPELINE

# The layer ([project.dependencies] and theirs) and what the python3.11 Lambda runtime provides.
LAMBDA_LIBRARIES = (
    "pydantic", "pydantic_core", "typing_extensions", "typing_inspection", "annotated_types",
    "aws_lambda_powertools", "jmespath",
    "boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six",
)  # fmt: skip


@pytest.fixture(scope="module")
def lambda_paths(tmp_path_factory) -> tuple[Path, Path]:
    code = build_code(tmp_path_factory.mktemp("code"))
    libraries = tmp_path_factory.mktemp("libraries")
    for name in LAMBDA_LIBRARIES:
        origin = Path(importlib.util.find_spec(name).origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (libraries / source.name).symlink_to(source)
    return code, libraries


def test_the_asset_holds_the_handlers_and_no_tooling(lambda_paths):
    code, _ = lambda_paths
    shipped = {p.relative_to(code).as_posix() for p in code.rglob("*.py")}
    assert {"pipeline/handlers/ingest.py", "pipeline/events.py"} <= shipped
    tooling = {"pipeline/source.py", "pipeline/reconcile.py", "pipeline/openapi.py",
               "pipeline/client/replay.py", "pipeline/glue/transforms.py"}
    assert not shipped & tooling


@pytest.mark.parametrize("handler", sorted({f.handler for f in PIPELINE.functions}))
def test_every_handler_imports_from_the_asset_alone(lambda_paths, handler):
    code, libraries = lambda_paths
    module, _, function = handler.rpartition(".")
    probe = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(code)!r}, {str(libraries)!r}]\n"
        f"handler = getattr(importlib.import_module({module!r}), {function!r})\n"
        "assert callable(handler)\n"
        "for name, mod in sorted(sys.modules.items()):\n"
        "    where = getattr(mod, '__file__', None) or ''\n"
        f"    assert not name.startswith('pipeline') or where.startswith({str(code)!r}), where\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True, text=True, timeout=120, check=False,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "probe"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
