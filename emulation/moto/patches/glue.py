"""moto's Glue StartJobRun runs nothing and GetJobRun invents SUCCEEDED: hand both to the runtime.

moto 5.2.1: `FakeJob.start_job_run` records a FakeJobRun whose state advances STARTING -> RUNNING
-> SUCCEEDED on reads, with ExecutionTime 123, whatever the script would do. Patched (in the moto
server process):
- StartJobRun merges DefaultArguments + run Arguments + NonOverridableArguments (moto's order),
  POSTs them with the job's ScriptLocation and Timeout to the runtime's
  `/glue/jobs/{job}/runs` (emulation/glue/runner.py), and returns the runtime's JobRunId.
  The runtime's ConcurrentRunsExceededException comes back as that AWS error.
- GetJobRun / GetJobRuns return the runtime's state (RUNNING/SUCCEEDED/FAILED/TIMEOUT),
  ErrorMessage, ExecutionTime, StartedOn/CompletedOn.

Known gaps vs AWS: in the package docstring (`emulation.moto`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

_RUNTIME_URL: str | None = None


def _call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    if not _RUNTIME_URL:
        raise RuntimeError(
            "Glue runs need the local runtime: moto was started without --runtime-url"
        )
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        _RUNTIME_URL + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except urllib.error.URLError as exc:
        raise RuntimeError(
            f"the local runtime at {_RUNTIME_URL} does not answer ({exc.reason}): "
            "is the local cloud up (make status)?"
        ) from None


def _ts(value):
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def apply(runtime_url: str | None) -> None:
    global _RUNTIME_URL
    _RUNTIME_URL = runtime_url.rstrip("/") if runtime_url else None

    from moto.glue import exceptions, models

    def start_job_run(
        self,
        allocated_capacity=None,
        max_capacity=None,
        timeout=None,
        worker_type=None,
        security_configuration=None,
        number_of_workers=None,
        notification_property=None,
        previous_run_id=None,
        arguments=None,
    ):
        merged = dict(self.default_arguments or {})
        merged.update(arguments or {})
        merged.update(self.non_overridable_arguments or {})
        status, reply = _call(
            "POST",
            f"/glue/jobs/{self.name}/runs",
            {
                "arguments": merged,
                "script_location": (self.command or {}).get("ScriptLocation", ""),
                "timeout_min": timeout or self.timeout,
            },
        )
        if status != 200:
            code = reply.get("__type", "InternalServiceException")
            message = reply.get("message", f"runtime answered {status}")
            if code == "ConcurrentRunsExceededException":
                raise exceptions.ConcurrentRunsExceededException(message)
            raise exceptions.GlueClientError(code, message)
        run = models.FakeJobRun(
            job_name=self.name,
            arguments=merged,
            worker_type=worker_type or self.worker_type,
            number_of_workers=number_of_workers or self.number_of_workers,
            timeout=timeout or self.timeout,
        )
        run.job_run_id = reply["Id"]
        run.runtime_state = reply
        run.glue_version = self.glue_version
        self.job_runs.append(run)
        return run.job_run_id

    def get_job_run(self, run_id):
        for run in self.job_runs:
            if run.job_run_id == run_id:
                _refresh(run)
                return run
        raise exceptions.JobRunNotFoundException(run_id)

    def get_job_runs(self):
        for run in self.job_runs:
            _refresh(run)
        return self.job_runs

    original_as_dict = models.FakeJobRun.as_dict

    def as_dict(self):
        result = original_as_dict(self)
        state = getattr(self, "runtime_state", None)
        if state is None:
            return result
        result.update(
            {
                "JobRunState": state.get("JobRunState", "RUNNING"),
                "ExecutionTime": state.get("ExecutionTime", 0),
                "StartedOn": _ts(state.get("StartedOn")),
                "LastModifiedOn": _ts(state.get("CompletedOn") or state.get("StartedOn")),
                "GlueVersion": getattr(self, "glue_version", None) or result.get("GlueVersion"),
                "LogGroupName": "/aws-glue/jobs/output",
            }
        )
        result.pop("CompletedOn", None)
        if state.get("CompletedOn"):
            result["CompletedOn"] = _ts(state["CompletedOn"])
        if state.get("ErrorMessage"):
            result["ErrorMessage"] = state["ErrorMessage"]
        return result

    models.FakeJob.start_job_run = start_job_run
    models.FakeJob.get_job_run = get_job_run
    models.FakeJob.get_job_runs = get_job_runs
    models.FakeJobRun.as_dict = as_dict


def _refresh(run) -> None:
    state = getattr(run, "runtime_state", None)
    if state is None or state.get("JobRunState") in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED"):
        return
    status, reply = _call("GET", f"/glue/jobs/{run.job_name}/runs/{run.job_run_id}")
    if status == 200:
        run.runtime_state = reply
