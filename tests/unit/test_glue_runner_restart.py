"""GlueRunner after a restart of the runtime: earlier runs are listed again, and a run it did not
see finish is FAILED (as a Glue run whose service went away) with its orphaned script stopped."""

from __future__ import annotations

import json
import subprocess
import time

import psutil

from emulation.config import CloudConfig
from emulation.glue.runner import GlueRunner, JobRun, _record_pid


def _write(root, run: JobRun) -> None:
    path = root / "runs" / run.JobName / f"{run.Id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.public()))


def test_runs_left_unfinished_by_a_crashed_runtime_fail_and_their_script_stops(tmp_path):
    config = CloudConfig(state_dir=tmp_path)
    root = tmp_path / "glue"
    done = JobRun(Id="jr_done", JobName="job", Arguments={}, JobRunState="SUCCEEDED",
                  StartedOn=1.0, CompletedOn=2.0, ExecutionTime=1)
    running = JobRun(Id="jr_running", JobName="job", Arguments={"--x": "1"}, JobRunState="RUNNING",
                     StartedOn=time.time() - 5)
    _write(root, done)
    _write(root, running)
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)  # the script, still running
    try:
        _record_pid(root / "runs" / "job" / "jr_running.pid", orphan.pid)

        runner = GlueRunner(config)

        assert runner.get_run("job", "jr_done").public() == done.public()
        failed = runner.get_run("job", "jr_running")
        assert failed.JobRunState == "FAILED" and "runtime stopped during this run" in failed.ErrorMessage
        assert failed.CompletedOn is not None
        saved = json.loads((root / "runs" / "job" / "jr_running.json").read_text())
        assert saved["JobRunState"] == "FAILED"
        assert [r.Id for r in runner.list_runs("job")] == ["jr_running", "jr_done"]
        orphan.wait(timeout=10)  # stopped by the runner, not by this test
        assert orphan.returncode is not None
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_reused_pid_is_never_signalled(tmp_path):
    root = tmp_path / "glue"
    running = JobRun(Id="jr_x", JobName="job", Arguments={}, JobRunState="RUNNING")
    _write(root, running)
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid_file = root / "runs" / "job" / "jr_x.pid"
        pid_file.write_text(json.dumps({"pid": bystander.pid,
                                        "create_time": psutil.Process(bystander.pid).create_time() - 100}))
        GlueRunner(CloudConfig(state_dir=tmp_path))
        assert bystander.poll() is None  # another process now has that pid: left alone
    finally:
        bystander.kill()
        bystander.wait()
