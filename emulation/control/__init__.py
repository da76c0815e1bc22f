"""The local cloud's control: start, watch and stop its processes; attach to one someone else runs.

    cli         `python -m emulation`: up, down, status, env, logs, faults, warehouse
    cloud       LocalCloud: the embedded target's processes (moto, warehouse, runtime) as one object
    supervisor  detached processes: spawn, record (pids.json), probe and stop exactly what we started
    preflight   checks `up` makes before starting anything (services, ports, Java)
    runtime     `python -m emulation.control.runtime`: the process hosting the runtime services
                (emulation.registry.SERVICES) and the control HTTP server they register routes on
    compose     `STACK=compose`: the Docker harness behind the same up/down/status/env contract
    container   the runtime image's entry point in the Docker harness
    attached    a running stack reached only through its `make env` variables (tests' compose mode)
    scratch     throwaway PostgreSQL and stock moto servers for tests and benchmarks

Known gaps (of the harness, not of an AWS service):
- compose: the build machines have no Docker engine, so that target is validated statically
  (tests/unit/test_compose_file.py) and its entry point run against the embedded moto server
  (tests/integration/test_compose_runtime.py), never as containers in CI. No moto patch applies to
  its LocalStack (which has its own Kinesis); LocalStack community has no Glue API, so compose
  serves Glue from a patched moto (`AWS_ENDPOINT_URL_GLUE`).
- attached: starts, stops and deletes nothing; no local logs (`docker compose logs <service>`) and
  no warehouse stop/start; assumes the stack provisioned the real description unless told.
- scratch: ScratchMoto is stock moto, without the local cloud's patches.
"""
