"""AWS Glue job runs (`StartJobRun`, `GetJobRun`) on local PySpark, which moto does not run.

moto keeps the Data Catalog, connections and jobs (emulation.provision.glue creates them); its
StartJobRun is patched (emulation.moto.patches.glue) to hand the run to the runtime:

    service   GlueRunnerService: the runtime's control routes moto's patched calls reach
    runner    GlueRunner: one job script per run, a subprocess on local Spark with glue_local's
              `awsglue`; `python -m emulation.glue.runner run <job>` starts one and waits

The `awsglue` library itself is glue_local/ (its gaps: glue_local/README.md).

Known gaps vs AWS:
- No workers/DPUs: one local Spark driver; WorkerType/NumberOfWorkers are recorded, not used.
- Run history lives in the runtime (`<state>/glue/runs/`) and in moto's Glue (kept across restarts
  by `emulation.moto.persistence`). A run the runtime did not see finish (it crashed, or `make down`
  stopped it) is FAILED at its next start, and its script is stopped: start the job again.
- No retries (MaxRetries), no job queuing, no CloudWatch: the log is a file
  (`<state>/logs/glue/<job>/<run-id>.log`). A timeout kills the process and reports TIMEOUT, as
  on AWS.
"""
