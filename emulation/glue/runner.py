"""Glue job runs on local PySpark: what `StartJobRun` does on AWS, which moto does not.

A run: the script is fetched from its S3 ScriptLocation, then run as
`python <script> --JOB_NAME <job> --JOB_ID <id> --JOB_RUN_ID <run> <arguments...>` in a
subprocess with `glue_local/` and the repository first on PYTHONPATH (so `awsglue` is
glue_local's), the local cloud's AWS_ENDPOINT_URL, GLUE_LOCAL_STATE_DIR (bookmarks, S3 mirror)
and GLUE_LOCAL_WAREHOUSE (the Redshift stand-in glue_local loads through). In template mode (`up
--from`) the run is isolated instead: its Python path holds the script's folder, the
`--extra-py-files` fetched from S3 and the Glue runtime only (`emulation.cloudformation.sandbox`),
so a module the bundle lacks fails the run as on AWS. Its stdout/stderr go to
`<state>/logs/glue/<job>/<run-id>.log`. One run at a time per job (MaxConcurrentRuns 1 ->
ConcurrentRunsExceededException, as on AWS). `service.GlueRunnerService` serves it to moto.

CLI: `python -m emulation.glue.runner run <job> [--ARG value...]` starts a run through the AWS
API and waits for it (see docs/batch.md); the job registers the archive's new partitions itself.

Known gaps vs AWS: in the package docstring (`emulation.glue`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emulation.config import REPO_ROOT, CloudConfig
from emulation.registry import GLUE_WAREHOUSE_CONNECT

FINAL_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")


@dataclass
class JobRun:
    Id: str
    JobName: str
    Arguments: dict[str, str]
    JobRunState: str = "STARTING"
    StartedOn: float = field(default_factory=time.time)
    CompletedOn: float | None = None
    ExecutionTime: int = 0
    ErrorMessage: str | None = None
    LogFile: str = ""

    def public(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


class RunnerError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


class GlueRunner:
    """Starts job scripts as subprocesses and tracks their runs (no HTTP; used by the service)."""

    def __init__(self, config: CloudConfig, s3_client=None, isolated: bool = False):
        """`isolated` (template mode): runs see the script, its --extra-py-files and the Glue
        runtime only, never the working tree (`emulation.cloudformation.sandbox`)."""
        self.config = config
        self.isolated = isolated
        self._s3 = s3_client
        self._runs: dict[str, dict[str, JobRun]] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.root = config.state_dir / "glue"
        self._adopt_earlier_runs()

    def _adopt_earlier_runs(self) -> None:
        """Runs of an earlier runtime (kept in `<state>/glue/runs/`): listed again, and one it left
        unfinished (the runtime crashed or was stopped) is FAILED, as a Glue run whose service went
        away, and its script stopped if it still runs."""
        for path in sorted((self.root / "runs").glob("*/*.json")):
            try:
                run = JobRun(**json.loads(path.read_text()))
            except (ValueError, TypeError):
                continue
            self._runs.setdefault(run.JobName, {})[run.Id] = run
            if run.JobRunState not in FINAL_STATES:
                _stop_orphan(path.with_suffix(".pid"))
                self._finish(run, "FAILED", "the local runtime stopped during this run (crash or "
                             "make down); start the job again")  # fmt: skip

    def start_run(
        self,
        job: str,
        arguments: dict[str, str],
        script_location: str,
        timeout_min: int | None = None,
    ) -> JobRun:
        with self._lock:
            active = [
                r for r in self._runs.get(job, {}).values() if r.JobRunState not in FINAL_STATES
            ]
            if active:
                raise RunnerError(
                    "ConcurrentRunsExceededException",
                    f"Concurrent runs exceeded for {job}: run {active[0].Id} is "
                    f"{active[0].JobRunState} (MaxConcurrentRuns 1)",
                )
            run = JobRun(
                Id="jr_" + uuid.uuid4().hex + uuid.uuid4().hex,
                JobName=job,
                Arguments=dict(arguments),
            )
            run.LogFile = str(self.config.logs_dir / "glue" / job / f"{run.Id}.log")
            self._runs.setdefault(job, {})[run.Id] = run
        threading.Thread(
            target=self._execute,
            args=(run, script_location, timeout_min),
            name=f"glue-{job}",
            daemon=True,
        ).start()
        return run

    def get_run(self, job: str, run_id: str) -> JobRun:
        run = self._runs.get(job, {}).get(run_id) or self._load(job, run_id)
        if run is None:
            raise RunnerError("EntityNotFoundException", f"Job run {run_id} of {job} not found")
        return run

    def list_runs(self, job: str) -> list[JobRun]:
        return sorted(self._runs.get(job, {}).values(), key=lambda r: r.StartedOn, reverse=True)

    def stop(self) -> None:
        for proc in list(self._procs.values()):
            _kill_group(proc, signal.SIGTERM)

    # -- internals ---------------------------------------------------------------------------
    def _execute(self, run: JobRun, script_location: str, timeout_min: int | None) -> None:
        log_path = Path(run.LogFile)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            script = self._fetch_script(run, script_location)
            argv = [
                str(script),
                "--JOB_NAME",
                run.JobName,
                "--JOB_ID",
                run.JobName,
                "--JOB_RUN_ID",
                run.Id,
            ]
            for key, value in run.Arguments.items():
                argv += [key, value]
            if self.isolated:
                from emulation.cloudformation.sandbox import glue_job

                launch = glue_job(script, self._fetch_extra_py_files(run), self.config.state_dir)
                argv, cwd = [*launch.command, *argv], launch.cwd
            else:
                argv, cwd = [sys.executable, *argv], str(REPO_ROOT)
            run.JobRunState = "RUNNING"
            self._save(run)
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._environment(),
                    cwd=cwd,
                    start_new_session=True,
                )
                self._procs[run.Id] = proc
                _record_pid(self.root / "runs" / run.JobName / f"{run.Id}.pid", proc.pid)
                try:
                    code = proc.wait(timeout=(timeout_min or 2880) * 60)
                except subprocess.TimeoutExpired:
                    _kill_group(proc, signal.SIGKILL)
                    proc.wait()
                    self._finish(run, "TIMEOUT", f"Job run timed out after {timeout_min} minutes")
                    return
            if code == 0:
                self._finish(run, "SUCCEEDED", None)
            else:
                self._finish(run, "FAILED", _error_of(log_path, code))
        except Exception as exc:  # noqa: BLE001 - a run that cannot start is FAILED with the reason
            self._finish(run, "FAILED", f"{type(exc).__name__}: {exc}")
        finally:
            self._procs.pop(run.Id, None)

    def _fetch_script(self, run: JobRun, location: str) -> Path:
        if not location.startswith("s3://"):
            raise ValueError(f"ScriptLocation {location!r} must be an s3:// URI (as on AWS)")
        bucket, _, key = location[5:].partition("/")
        target = self.root / "scripts" / run.JobName / f"{run.Id}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        self._s3_client().download_file(bucket, key, str(target))
        return target

    def _fetch_extra_py_files(self, run: JobRun) -> list[Path]:
        """`--extra-py-files` (comma-separated S3 paths) downloaded for the run: Glue puts each .zip
        (or .whl/.egg) and the folder of the .py files on the job's Python path."""
        folder = self.root / "runs" / run.JobName / run.Id / "extra-py-files"
        paths: list[Path] = []
        for location in filter(
            None, (p.strip() for p in run.Arguments.get("--extra-py-files", "").split(","))
        ):
            if not location.startswith("s3://"):
                raise ValueError(f"--extra-py-files {location!r} must be an s3:// path (as on AWS)")
            bucket, _, key = location[5:].partition("/")
            target = folder / key.rsplit("/", 1)[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            self._s3_client().download_file(bucket, key, str(target))
            entry = target.parent if target.suffix == ".py" else target
            if entry not in paths:
                paths.append(entry)
        return paths

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.aws_env())
        env.update(self.config.extra_env)
        paths = [str(REPO_ROOT / "glue_local"), str(REPO_ROOT)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["GLUE_LOCAL_STATE_DIR"] = str(self.root)
        env["GLUE_LOCAL_WAREHOUSE"] = GLUE_WAREHOUSE_CONNECT
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _finish(self, run: JobRun, state: str, error: str | None) -> None:
        run.CompletedOn = time.time()
        run.ExecutionTime = round(run.CompletedOn - run.StartedOn)
        run.ErrorMessage = error
        run.JobRunState = state
        self._save(run)

    def _save(self, run: JobRun) -> None:
        path = self.root / "runs" / run.JobName / f"{run.Id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run.public()))

    def _load(self, job: str, run_id: str) -> JobRun | None:
        path = self.root / "runs" / job / f"{run_id}.json"
        if not path.exists():
            return None
        return JobRun(**json.loads(path.read_text()))

    def _s3_client(self):
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client(
                "s3",
                endpoint_url=self.config.aws_endpoint,
                region_name=self.config.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._s3


def _record_pid(path: Path, pid: int) -> None:
    import psutil

    try:
        path.write_text(json.dumps({"pid": pid, "create_time": psutil.Process(pid).create_time()}))
    except (OSError, psutil.Error):
        pass


def _stop_orphan(path: Path) -> None:
    """Stop the process group of a run an earlier runtime started, if that exact process runs."""
    import psutil

    try:
        recorded = json.loads(path.read_text())
        proc = psutil.Process(recorded["pid"])
        if abs(proc.create_time() - recorded["create_time"]) < 1.0:
            os.killpg(recorded["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError, psutil.Error):
        pass


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """The script and its Spark JVM share a process group (start_new_session): stop both."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def _error_of(log_path: Path, code: int) -> str:
    """The last exception line of the log, like Glue's ErrorMessage."""
    lines = log_path.read_text(errors="replace").splitlines()[-200:]
    for line in reversed(lines):
        text = line.strip()
        if text and ("Error" in text.split(":", 1)[0] or "Exception" in text.split(":", 1)[0]):
            return text[:2000]
    return f"job script exited with code {code}"


def run_job_and_wait(
    glue,
    job_name: str,
    arguments: dict[str, str] | None = None,
    timeout_s: float = 900,
    poll_s: float = 2.0,
) -> dict:
    """StartJobRun + GetJobRun polling with a boto3 `glue` client (works on AWS too).

    Returns the final JobRun dict; raises TimeoutError if it is still running after timeout_s.
    """
    run_id = glue.start_job_run(JobName=job_name, Arguments=arguments or {})["JobRunId"]
    deadline = time.monotonic() + timeout_s
    while True:
        run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in FINAL_STATES:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"job run {run_id} of {job_name} still {run['JobRunState']} after {timeout_s:.0f} s"
            )
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    import argparse

    import boto3

    parser = argparse.ArgumentParser(
        prog="python -m emulation.glue.runner", description="Glue jobs on the local cloud"
    )
    parser.add_argument("--state-dir", default=None, help="local cloud state (default .localcloud)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a job run and wait for it")
    run.add_argument("job")
    args, extra = parser.parse_known_args(argv)
    if len(extra) % 2:
        parser.error("job arguments come in pairs: --NAME value")
    try:
        config = CloudConfig.load(args.state_dir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    glue = boto3.client(
        "glue",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    result = run_job_and_wait(glue, args.job, dict(zip(extra[::2], extra[1::2])))
    print(
        json.dumps(
            {k: result.get(k) for k in ("Id", "JobRunState", "ExecutionTime", "ErrorMessage")},
            default=str,
        )
    )
    return 0 if result["JobRunState"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
