"""The Docker harness's runtime entry point (`python -m emulation.control.container`, the image's command)
started as a plain process against the embedded moto server and warehouse, as the compose file
starts it against LocalStack and the Postgres container. No Docker engine is needed for this."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from emulation.config import free_ports

EMBEDDED_ONLY = pytest.mark.embedded_only(
    reason=(
        "runs the compose runtime's entry point as a plain process against a private embedded "
        "moto and warehouse; on the compose stack that entry point is the runtime container"
    )
)

pytestmark = [EMBEDDED_ONLY, pytest.mark.timeout(300)]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def infrastructure(cloud_factory):
    """moto + PostgreSQL of an embedded cloud, with no runtime services of its own."""
    return cloud_factory(services=[])


def _start_container(cloud, state_dir, api_port, runtime_port, **extra):
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": cloud.aws_endpoint,
        "AWS_DEFAULT_REGION": cloud.config.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WAREHOUSE_DSN": cloud.warehouse_dsn,
        "LOCALCLOUD_API_PORT": str(api_port),
        "LOCALCLOUD_RUNTIME_PORT": str(runtime_port),
        "LOCALCLOUD_SERVICES": "lambda,api",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "emulation.control.container", "--state-dir", str(state_dir), "--wait", "5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_healthy(proc, runtime_url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
        try:
            if _get(runtime_url + "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the container entry point never became healthy")


def test_entry_point_provisions_and_serves_against_a_given_endpoint(infrastructure, tmp_path):
    api_port, runtime_port = free_ports(2)
    proc = _start_container(infrastructure, tmp_path / "state", api_port, runtime_port)
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{runtime_port}")
        stage = infrastructure.resources.api.stage
        base = f"http://127.0.0.1:{api_port}/{stage}"

        status, body = _get(base + "/customers/12345")
        assert status == 403 and body["message"] == "Forbidden"

        keys = infrastructure.client("apigateway").get_api_keys(includeValues=True)["items"]
        key = next(k["value"] for k in keys if k["enabled"])
        status, body = _get(base + "/customers/12345", {"x-api-key": key})
        assert status == 404, body  # the query Lambda ran in a worker and found no such customer
        assert "message" in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_entry_point_names_a_missing_warehouse(infrastructure, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAREHOUSE_")}
    env.update(AWS_ENDPOINT_URL=infrastructure.aws_endpoint, WAREHOUSE_HOST="db",
               WAREHOUSE_SUPERUSER_PASSWORD_FILE=str(tmp_path / "missing"))
    result = subprocess.run(
        [sys.executable, "-m", "emulation.control.container", "--state-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "WAREHOUSE_SUPERUSER_PASSWORD_FILE" in result.stderr


def test_entry_point_names_an_unreachable_aws_endpoint(tmp_path):
    (port,) = free_ports(1)
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "WAREHOUSE_DSN": "postgresql://x@127.0.0.1/x"}
    result = subprocess.run(
        [sys.executable, "-m", "emulation.control.container", "--state-dir", str(tmp_path), "--wait", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "did not answer" in result.stderr
