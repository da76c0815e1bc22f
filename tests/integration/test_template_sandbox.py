"""The import paths template mode gives a Lambda worker and a Glue run (emulation.cloudformation
.sandbox), probed in real `python -I -S` processes built exactly as the runtime builds them: the
deployed artifact and the runtime AWS provides are importable, the working tree and the venv's
site-packages are not."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from emulation.cloudformation.sandbox import bootstrap_module, glue_job, isolated_command, lambda_worker
from emulation.cloudformation.translate import describe
from emulation.config import REPO_ROOT

pytestmark = pytest.mark.embedded_only(reason="probes the embedded runtime's worker command lines")

PROBE = """
import importlib.util, json
def origin(name):
    try:
        spec = importlib.util.find_spec(name)
    except ImportError as exc:
        return "error: " + str(exc)
    return spec.origin if spec else None
print(json.dumps({"path": sys.path, "origins": {n: origin(n) for n in NAMES}}))
"""


def probe(launch, names: list[str]) -> dict:
    paths = ast.literal_eval(launch.command[-1].split("sys.path[:0] = ", 1)[1].split("; ", 1)[0])
    command = isolated_command(paths, f"NAMES = {names!r}\n" + PROBE)
    done = subprocess.run(command, cwd=launch.cwd, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_a_function_sees_its_asset_its_layer_and_boto3_only(synthesized_tree, tmp_path):
    resources = describe(synthesized_tree.assembly)
    fn = next(f for f in resources.functions if f.name == "sales-ingest")
    seen = probe(lambda_worker(fn, tmp_path), ["pipeline.handlers.ingest", "pydantic", "boto3",
                                               bootstrap_module(), "emulation", "moto"])
    origins = seen["origins"]
    assert origins["pipeline.handlers.ingest"].startswith(fn.code_dir)
    assert origins["pydantic"].startswith(fn.layer_dirs[0])
    assert origins["boto3"] and origins[bootstrap_module()]
    assert origins["emulation"] is None and origins["moto"] is None  # neither emulator nor venv
    assert not [p for p in seen["path"] if "site-packages" in p and not p.startswith(fn.layer_dirs[0])]
    assert str(REPO_ROOT) not in seen["path"] and str(synthesized_tree.root) not in seen["path"]


def test_a_job_run_sees_its_script_its_bundle_and_the_glue_runtime_only(synthesized_tree, tmp_path):
    resources = describe(synthesized_tree.assembly)
    job = resources.glue_jobs[0]
    bundle = resources.asset_at(job.default_arguments["--extra-py-files"]).path
    script = tmp_path / "script" / "job.py"
    script.parent.mkdir()
    script.write_text("")
    seen = probe(glue_job(script, [Path(bundle)], tmp_path), ["pipeline.glue", "awsglue", "pyspark",
                                                             "emulation.redshift.connection", "moto", "pipeline.client"])
    origins = seen["origins"]
    assert origins["pipeline.glue"].startswith(bundle)  # from the --extra-py-files zip
    assert Path(origins["awsglue"]).resolve().is_relative_to(REPO_ROOT / "glue_local")  # a link to it
    assert origins["pyspark"] and origins["emulation.redshift.connection"]
    assert origins["moto"] is None and origins["pipeline.client"] is None  # not in the bundle
    assert str(REPO_ROOT) not in seen["path"]
