"""The Lambda package built without Docker: every handler imports from the code asset + layer
alone (plus boto3, which the Lambda runtime provides), in a clean interpreter."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy.bundling import (
    build_code,
    build_glue_libs,
    build_layer,
    runtime_requirements,
)
from pipeline.resources import PIPELINE

# What the python3.11 Lambda runtime provides besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "jmespath", "urllib3", "six.py")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    code = build_code(tmp_path_factory.mktemp("code"))
    layer = build_layer()
    runtime = tmp_path_factory.mktemp("runtime")
    site = Path(__import__("boto3").__file__).parent.parent
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(site / name)
    return code, layer / "python", runtime


def test_layer_pins_the_tested_versions_and_holds_linux_pydantic_core(package):
    _, layer, _ = package
    reqs = runtime_requirements()
    assert {r.split("==")[0] for r in reqs} == {"pydantic", "aws-lambda-powertools"}
    assert all("==" in r for r in reqs)
    assert list(layer.glob("pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so"))


def test_code_asset_leaves_out_client_glue_sql_and_tooling(package):
    code, _, _ = package
    assert (code / "pipeline" / "handlers").is_dir()
    for excluded in ("client", "glue", "warehouse", "source.py", "reconcile.py", "openapi.py"):
        assert not (code / "pipeline" / excluded).exists(), excluded
    assert not list(code.rglob("__pycache__"))


@pytest.mark.parametrize("handler", sorted({f.handler for f in PIPELINE.functions}))
def test_handler_imports_from_the_package_alone(package, handler):
    code, layer, runtime = package
    module, _, func = handler.rpartition(".")
    probe = (
        f"import sys; sys.path[:0] = [{str(code)!r}, {str(layer)!r}, {str(runtime)!r}]\n"
        f"import importlib; m = importlib.import_module({module!r}); assert callable(getattr(m, {func!r}))\n"
        "import os\n"
        "for name, mod in list(sys.modules.items()):\n"
        "    f = getattr(mod, '__file__', None) or ''\n"
        "    assert '.venv' not in f or '/runtime' in f, f'{name} came from the dev venv: {f}'\n"
    )
    # -I -S: no user site, no site-packages: only the stdlib and the paths we add.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "probe"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_glue_libs_zip_holds_the_computed_import_closure(tmp_path):
    """Absolute, relative and function-level imports count; third-party and unused modules don't."""
    pkg = tmp_path / "pipeline"
    (pkg / "glue").mkdir(parents=True)
    files = {
        "pipeline/__init__.py": "",
        "pipeline/glue/__init__.py": "",
        "pipeline/glue/job.py": "import pyspark\nfrom pipeline.glue import steps\n",
        "pipeline/glue/steps.py": "def f():\n    from ..fields import NAMES\n    return NAMES\n",
        "pipeline/fields.py": "NAMES = ()\n",
        "pipeline/unused.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    from deploy.import_closure import first_party_closure

    found = first_party_closure(tmp_path / "pipeline/glue/job.py", tmp_path, ("pipeline",))
    assert [str(p.relative_to(tmp_path)) for p in found] == sorted(
        set(files) - {"pipeline/unused.py", "pipeline/glue/job.py"}
    )
    bundle = zipfile.ZipFile(build_glue_libs(dest=tmp_path / "libs.zip")).namelist()
    assert {"pipeline/__init__.py", "pipeline/fields.py", "pipeline/glue/transforms.py"} <= set(bundle)
