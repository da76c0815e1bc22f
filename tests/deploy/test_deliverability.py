"""Deliverability: what the synthesized template and its assets must hold for data to reach every
sink on AWS. Each test names the issue-11 finding it would have caught (docs/deploy.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bundling import REPO_ROOT
from pipeline.resources import PIPELINE

from .template_assets import asset_file, glue_job

# What the Glue 5.0 runtime provides besides the standard library and --extra-py-files: Spark
# (pyspark, py4j), the awsglue library (glue_local's stand-in here) and boto3.
GLUE_RUNTIME = ("pyspark", "py4j", "boto3", "botocore", "s3transfer", "dateutil", "jmespath",
                "urllib3", "six.py")


@pytest.fixture(scope="module")
def glue_runtime(tmp_path_factory) -> Path:
    runtime = tmp_path_factory.mktemp("glue-runtime")
    site = Path(__import__("boto3").__file__).parent.parent
    for name in GLUE_RUNTIME:
        (runtime / name).symlink_to(site / name)
    return runtime


@pytest.mark.parametrize("job", PIPELINE.glue_jobs, ids=lambda j: j.name)
def test_1_glue_script_imports_from_its_bundle_alone(synthesized, glue_runtime, job):
    """Item 1: the --extra-py-files zip lacked pipeline/fields.py (ModuleNotFoundError on AWS).
    The script asset is imported with only the zip (not unpacked), glue_local's awsglue and the
    Glue runtime's libraries on the path; every pipeline module must come from the zip."""
    props = glue_job(synthesized.template, job.name)
    script = asset_file(synthesized.outdir, props["Command"]["ScriptLocation"])
    bundle = asset_file(synthesized.outdir, props["DefaultArguments"]["--extra-py-files"])
    assert bundle.suffix == ".zip"
    probe = (
        "import sys, importlib.util\n"
        f"sys.path[:0] = [{str(bundle)!r}, {str(REPO_ROOT / 'glue_local')!r}, {str(glue_runtime)!r}]\n"
        f"spec = importlib.util.spec_from_file_location('glue_script', {str(script)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert callable(module.main)\n"
        "loaded = {n: getattr(m, '__file__', '') or '' for n, m in sys.modules.items()\n"
        "          if n == 'pipeline' or n.startswith('pipeline.')}\n"
        f"wrong = {{n: f for n, f in loaded.items() if not f.startswith({str(bundle)!r})}}\n"
        "assert loaded and not wrong, wrong\n"
        "print(sorted(loaded))\n"
    )
    # -I: no user site, no PYTHON* variables; -S: no site-packages. The working tree is not on
    # the path (cwd is a scratch folder), so nothing can come from it.
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True,
                          text=True, timeout=120, cwd=glue_runtime, check=False)
    assert proc.returncode == 0, proc.stderr[-2500:]
    assert "pipeline.glue.transforms" in proc.stdout
