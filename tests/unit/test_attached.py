"""`emulation.control.attached`: a running stack from its `make env` variables, and clear refusals.

The refusals are checked against real sockets: a free port where nothing listens, and a small
HTTP server standing in for a runtime that answers but is not ready.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from emulation.config import free_ports
from emulation.control import attached, compose
from emulation.control.attached import AttachedCloud, AttachError, require_answer
from tests.integration import stack

# What `python -m emulation env --stack compose` prints once the harness is up.
COMPOSE_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "AWS_ENDPOINT_URL_GLUE": "http://127.0.0.1:4570",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "API_URL": "http://127.0.0.1:4567/v1",
    "LOCALCLOUD_RUNTIME_URL": "http://127.0.0.1:4568",
    "WAREHOUSE_DSN": "postgresql://postgres:pw@127.0.0.1:4569/ecommerce",
    "API_KEY": "key123",
}


def nowhere() -> str:
    return f"http://127.0.0.1:{free_ports(1)[0]}"


def test_handles_come_from_the_env_contract():
    cloud = AttachedCloud(COMPOSE_ENV)
    assert cloud.aws_endpoint == "http://127.0.0.1:4566"
    assert cloud.api_url == "http://127.0.0.1:4567/v1" and cloud.api_key == "key123"
    assert cloud.runtime_url == "http://127.0.0.1:4568"
    assert cloud.warehouse_dsn == COMPOSE_ENV["WAREHOUSE_DSN"]
    config = cloud.config
    assert (config.aws_port, config.api_port, config.runtime_port, config.warehouse_port) == (
        4566, 4567, 4568, 4569,
    )  # fmt: skip
    assert config.aws_endpoint == cloud.aws_endpoint and config.region == "us-east-1"
    assert cloud.names.bucket("raw-archive") == cloud.resources.bucket("raw-archive").physical_name(
        "123456789012", "us-east-1"
    )
    assert cloud.client("s3").meta.endpoint_url == "http://127.0.0.1:4566"


def test_glue_clients_use_the_glue_endpoint_when_the_env_names_one():
    cloud = AttachedCloud(COMPOSE_ENV)
    assert cloud.glue_endpoint == "http://127.0.0.1:4570"
    assert cloud.client("glue").meta.endpoint_url == "http://127.0.0.1:4570"
    assert cloud.env()["AWS_ENDPOINT_URL_GLUE"] == "http://127.0.0.1:4570"  # passed on to subprocesses
    without = AttachedCloud({k: v for k, v in COMPOSE_ENV.items() if k != "AWS_ENDPOINT_URL_GLUE"})
    assert without.client("glue").meta.endpoint_url == "http://127.0.0.1:4566"
    assert "AWS_ENDPOINT_URL_GLUE" not in without.env()


def test_env_keeps_only_the_contract_and_always_dummy_credentials():
    shell = {**COMPOSE_ENV, "HOME": "/home/me", "AWS_ACCESS_KEY_ID": "AKIAREAL",
             "AWS_SECRET_ACCESS_KEY": "real-secret"}  # fmt: skip
    env = AttachedCloud(shell).env()
    assert "HOME" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert {k: env[k] for k in ("AWS_ENDPOINT_URL", "API_URL", "API_KEY", "WAREHOUSE_DSN")} == {
        k: COMPOSE_ENV[k] for k in ("AWS_ENDPOINT_URL", "API_URL", "API_KEY", "WAREHOUSE_DSN")
    }


def test_missing_or_malformed_variables_are_named():
    with pytest.raises(AttachError, match="no AWS_ENDPOINT_URL, API_URL.*emulation env --stack"):
        AttachedCloud({"API_KEY": "k"})
    with pytest.raises(AttachError, match="malformed URL"):
        AttachedCloud({**COMPOSE_ENV, "API_URL": "http://127.0.0.1:port/v1"})
    partial = AttachedCloud({k: v for k, v in COMPOSE_ENV.items() if k != "WAREHOUSE_DSN"})
    with pytest.raises(AttachError, match="no WAREHOUSE_DSN: `make up STACK=compose`"):
        partial.warehouse_dsn  # noqa: B018 - the property is what is tested


def test_what_only_a_started_cloud_has_is_refused_not_faked():
    cloud = AttachedCloud(COMPOSE_ENV)
    with pytest.raises(AttachError, match="docker compose logs runtime"):
        cloud.log_path("runtime")
    with pytest.raises(AttachError, match="not this process's to stop"):
        cloud.warehouse_stop()


def test_an_endpoint_where_nothing_listens_is_refused_with_the_fix():
    url = nowhere()
    with pytest.raises(AttachError) as caught:
        require_answer(url)
    assert str(caught.value) == f"nothing answers at {url}; run `make up STACK=compose` first"


def test_the_tests_say_which_option_failed_before_asking_anything_else(monkeypatch):
    url = nowhere()
    monkeypatch.setattr(compose, "aws_endpoint", lambda: url)
    monkeypatch.setattr(
        compose, "env_vars", lambda: pytest.fail("asked for the env of a dead stack")
    )
    with pytest.raises(stack.StackUnavailable) as caught:
        stack.attach("compose")
    assert str(caught.value) == (
        f"--stack=compose: nothing answers at {url}; run `make up STACK=compose` first"
    )


class _Runtime(BaseHTTPRequestHandler):
    health: ClassVar[dict] = {}  # what GET /health answers; each test sets it

    def do_GET(self):
        body = json.dumps(self.health if self.path == "/health" else {}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def answering():
    """One HTTP server as both the AWS endpoint and the runtime: it answers, /health says what
    the test sets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _values(url: str, **changes) -> dict[str, str]:
    values = {**COMPOSE_ENV, "AWS_ENDPOINT_URL": url, "LOCALCLOUD_RUNTIME_URL": url}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_a_runtime_that_is_not_ready_is_named(answering, monkeypatch):
    monkeypatch.setattr(_Runtime, "health", {"ready": False, "provisioned": False})
    with pytest.raises(AttachError, match=r"runtime at .* is not ready .*docker compose logs"):
        AttachedCloud(_values(answering)).check()


def test_no_api_key_means_provisioning_has_not_finished(answering, monkeypatch):
    monkeypatch.setattr(_Runtime, "health", {"ready": True})
    with pytest.raises(AttachError, match="lists no enabled API key: provisioning"):
        AttachedCloud(_values(answering, API_KEY=None)).check()


def test_a_warehouse_that_refuses_connections_is_named(answering, monkeypatch):
    monkeypatch.setattr(_Runtime, "health", {"ready": True})
    port = free_ports(1)[0]
    dsn = f"postgresql://postgres:pw@127.0.0.1:{port}/ecommerce"
    with pytest.raises(AttachError, match=f"warehouse at 127.0.0.1:{port} refuses") as caught:
        AttachedCloud(_values(answering, WAREHOUSE_DSN=dsn)).check()
    assert "pw@" not in str(caught.value)  # the password stays out of the message


def test_only_the_compose_stack_is_attached_to():
    with pytest.raises(ValueError, match="only the compose stack"):
        attached.attach("embedded")
