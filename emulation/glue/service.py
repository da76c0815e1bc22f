"""The runtime's `glue` service: the local Glue runner behind the control routes moto's patched
StartJobRun / GetJobRun / GetJobRuns call (emulation/moto/patches/glue.py), so
`aws glue start-job-run --job-name sales-batch-load --endpoint-url http://localhost:4566` runs the
job and `aws glue get-job-run` reports RUNNING, then SUCCEEDED or FAILED with ErrorMessage.

Control routes (runtime_port): POST /glue/jobs/{job}/runs  {"arguments", "script_location",
"timeout_min"}; GET /glue/jobs/{job}/runs[/{run_id}].
"""

from __future__ import annotations

import json

from .runner import GlueRunner, RunnerError


class GlueRunnerService:
    """The runtime service: a GlueRunner behind control routes."""

    def __init__(self, ctx):
        self.ctx = ctx
        # Template mode: jobs run their script asset, isolated from the working tree.
        isolated = any(hasattr(job, "script_location") for job in ctx.resources.glue_jobs)
        self.runner = GlueRunner(ctx.config, s3_client=ctx.boto("s3"), isolated=isolated)

    def start(self) -> None:
        control = self.ctx.control
        control.register("POST", r"/glue/jobs/(?P<job>[^/]+)/runs", self._start_run)
        control.register("GET", r"/glue/jobs/(?P<job>[^/]+)/runs", self._list_runs)
        control.register("GET", r"/glue/jobs/(?P<job>[^/]+)/runs/(?P<run>[^/]+)", self._get_run)

    def stop(self) -> None:
        self.runner.stop()

    def _start_run(self, params, _headers, body):
        try:
            request = json.loads(body or b"{}")
            run = self.runner.start_run(
                params["job"],
                request.get("arguments") or {},
                request.get("script_location", ""),
                request.get("timeout_min"),
            )
        except RunnerError as exc:
            return exc.status, {}, {"__type": exc.code, "message": str(exc)}
        except (ValueError, TypeError) as exc:
            return 400, {}, {"__type": "InvalidInputException", "message": str(exc)}
        return 200, {}, run.public()

    def _get_run(self, params, _headers, _body):
        try:
            return 200, {}, self.runner.get_run(params["job"], params["run"]).public()
        except RunnerError as exc:
            return 404, {}, {"__type": exc.code, "message": str(exc)}

    def _list_runs(self, params, _headers, _body):
        return 200, {}, {"JobRuns": [r.public() for r in self.runner.list_runs(params["job"])]}
