"""Fixtures that start a real local cloud for integration tests.

`local_cloud` (session scope): the whole embedded cloud with the real description
(`pipeline.resources:PIPELINE`): patched moto server, PostgreSQL, provisioning and the runtime, all
real processes, on free ports, in a temporary state folder. Started once per test session, stopped
(and its warehouse data deleted) at the end. Runtime services: all, unless LOCALCLOUD_SERVICES
is set (`LOCALCLOUD_SERVICES=lambda,api pytest ...`).

`cloud_factory` (session scope): start a cloud with your own description or services:

    def test_something(cloud_factory):
        cloud = cloud_factory(resources="tests.integration.my_resources:RESOURCES",
                              services=["lambda", "mappings"])
        kinesis = cloud.client("kinesis")

  - `resources`: `module:attribute` of a `pipeline.resources.Resources` (default: the real one);
  - `services`: runtime services to start, a list (`[]` = none) or None for all;
  - `warehouse_dsn`: use this PostgreSQL instead of starting one; `extra_env`: added to every
    process's environment;
  - clouds are shared: the same arguments return the same running cloud (so a module's tests pay
    for one start); pass `fresh=True` for a private one (e.g. a test that stops its warehouse).
    Every cloud is stopped at the end of the session; `cloud.stop()` stops one earlier.

What a cloud (`emulation.cloud.LocalCloud`) offers a test:
    cloud.config          CloudConfig (ports, state_dir, region, ...)
    cloud.client("s3")    boto3 client on the cloud's AWS endpoint, dummy credentials
    cloud.aws_endpoint    http://127.0.0.1:<aws_port>       (moto)
    cloud.runtime_url     http://127.0.0.1:<runtime_port>   (Lambda Invoke API, /faults, /mappings)
    cloud.api_url         http://127.0.0.1:<api_port>/<stage>
    cloud.api_key         the API key provisioning wrote to <state>/api_key (None if no API step)
    cloud.warehouse_dsn   superuser DSN of the warehouse database
    cloud.env()           the variables `python -m emulation env` exports
    cloud.resources, cloud.names   the description and its local physical names / ARNs
    cloud.log_path("runtime")      a part's log file (moto, warehouse, runtime, provision)
    cloud.warehouse_stop(), cloud.warehouse_start()   fault tests: the warehouse goes away/returns
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from emulation.cloud import LocalCloud
from emulation.config import CloudConfig, parse_services

log = logging.getLogger("tests.local_cloud")
REAL_RESOURCES = "pipeline.resources:PIPELINE"


class CloudFactory:
    def __init__(self, tmp_path_factory: pytest.TempPathFactory):
        self._tmp = tmp_path_factory
        self._shared: dict[tuple, LocalCloud] = {}
        self._all: list[LocalCloud] = []

    def __call__(
        self,
        resources: str = REAL_RESOURCES,
        services: list[str] | None = None,
        *,
        warehouse_dsn: str | None = None,
        extra_env: dict[str, str] | None = None,
        fresh: bool = False,
    ) -> LocalCloud:
        key = (resources, tuple(services) if services is not None else None, warehouse_dsn,
               tuple(sorted((extra_env or {}).items())))  # fmt: skip
        if not fresh and key in self._shared:
            return self._shared[key]
        state_dir = self._tmp.mktemp("localcloud")
        config = CloudConfig.on_free_ports(
            Path(state_dir),
            resources=resources,
            services=list(services) if services is not None else None,
            warehouse_dsn=warehouse_dsn,
            extra_env=dict(extra_env or {}),
        )
        cloud = LocalCloud(config, out=lambda line: log.info("%s", line))
        self._all.append(cloud)  # before start: a failed start may still leave a data folder
        cloud.start()
        if not fresh:
            self._shared[key] = cloud
        return cloud

    def close(self) -> None:
        for cloud in reversed(self._all):
            try:
                cloud.destroy()
            except Exception:  # keep stopping the others; the failure is logged
                log.exception("could not stop the local cloud in %s", cloud.config.state_dir)


@pytest.fixture(scope="session")
def cloud_factory(tmp_path_factory):
    factory = CloudFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def local_cloud(cloud_factory) -> LocalCloud:
    return cloud_factory(REAL_RESOURCES, parse_services(os.environ.get("LOCALCLOUD_SERVICES")))
