"""Fixtures that give integration tests a real local cloud: started here, or attached to.

The target is `--stack=embedded` (default) or `--stack=compose` (or PIPELINE_STACK; see
tests/integration/stack.py).

`local_cloud` (session scope): the whole cloud with the real description
(`pipeline.resources:PIPELINE`).
  embedded: patched moto server, PostgreSQL, provisioning and the runtime, all real processes, on
    free ports, in a temporary state folder. Started once per test session, stopped (and its
    warehouse data deleted) at the end. Runtime services: all, unless LOCALCLOUD_SERVICES is set
    (`LOCALCLOUD_SERVICES=lambda,api pytest ...`).
  compose: an `emulation.control.attached.AttachedCloud` on the stack `make up STACK=compose` started,
    found through the `make env STACK=compose` variables; nothing is started or stopped, and
    LOCALCLOUD_SERVICES does not apply. If the stack does not answer, every test that needs it
    errors saying so (a forgotten `make up` must not pass as a green run of skips).

`embedded_only(reason=...)` marks tests that need the embedded cloud itself (private clouds with
their own description, fault switches, killed workers, a stopped warehouse, the emulator's own
parts); under `--stack=compose` they are skipped with that reason. A test that uses
`cloud_factory` without the mark is refused at collection, so the classification stays honest.

`cloud_factory` (session scope): start a cloud with your own description or services:

    def test_something(cloud_factory):
        cloud = cloud_factory(resources="tests.integration.my_resources:RESOURCES",
                              services=["lambda", "mappings"])
        kinesis = cloud.client("kinesis")

  - `resources`: `module:attribute` of a `pipeline.resource_schema.Resources` (default: the real one);
  - `services`: runtime services to start, a list (`[]` = none) or None for all;
  - `warehouse_dsn`: use this PostgreSQL instead of starting one; `extra_env`: added to every
    process's environment;
  - clouds are shared: the same arguments return the same running cloud (so a module's tests pay
    for one start); pass `fresh=True` for a private one (e.g. a test that stops its warehouse).
    Every cloud is stopped at the end of the session; `cloud.stop()` stops one earlier.

What a cloud (`emulation.control.cloud.LocalCloud`, or `AttachedCloud` under compose) offers a test:
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
(`AttachedCloud` has no log files and no warehouse stop/start: those tests are embedded-only.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from emulation.config import CloudConfig, parse_services
from emulation.control.cloud import LocalCloud
from emulation.registry import PIPELINE_RESOURCES

from . import stack

log = logging.getLogger("tests.local_cloud")
REAL_RESOURCES = PIPELINE_RESOURCES
EMBEDDED_ONLY = "embedded_only"
PRIVATE_CLOUDS = ("cloud_factory starts private embedded clouds; --stack=compose only attaches "
                  "to the running stack")


def pytest_collection_modifyitems(config, items):
    on_compose = stack.of(config) == "compose"
    for item in items:
        mark = item.get_closest_marker(EMBEDDED_ONLY)
        if mark is None:
            if "cloud_factory" in item.fixturenames:
                raise pytest.UsageError(
                    f"{item.nodeid} uses cloud_factory but is not marked "
                    f"{EMBEDDED_ONLY}(reason=...): say why it cannot run on compose"
                )
            continue
        reason = mark.kwargs.get("reason")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: {EMBEDDED_ONLY} needs reason=...")
        if on_compose:  # never in CI, which runs --stack=embedded: there every marked test runs
            item.add_marker(pytest.mark.skip(reason=f"embedded only: {reason}"))


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
def cloud_factory(request, tmp_path_factory):
    if stack.of(request.config) == "compose":
        pytest.skip(PRIVATE_CLOUDS)  # compose only; CI runs embedded, where cloud_factory always starts
    factory = CloudFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def local_cloud(request):
    target = stack.of(request.config)
    if target == "compose":
        try:
            return stack.attach(target)
        except stack.StackUnavailable as exc:
            unavailable = str(exc)
        pytest.fail(unavailable, pytrace=False)  # outside `except`: the message alone, unchained
    # Asked for only here, so a test using local_cloud alone does not depend on cloud_factory.
    factory = request.getfixturevalue("cloud_factory")
    return factory(REAL_RESOURCES, parse_services(os.environ.get("LOCALCLOUD_SERVICES")))


@pytest.fixture(scope="session")
def synthesized_tree(tmp_path_factory):
    """A copy of the working tree with its cloud assembly: one synthesis per session, shared by the
    template-mode tests (tests/integration/template_support.py)."""
    from .template_support import copy_tree

    return copy_tree(tmp_path_factory.mktemp("tree"))
