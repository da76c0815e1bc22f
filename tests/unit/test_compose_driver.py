"""`STACK=compose` driver: clear errors without Docker, secrets generated once, same env contract."""

from __future__ import annotations

import stat
import subprocess

import pytest

from emulation.config import CloudConfig
from emulation.control import compose


def test_without_docker_the_error_names_docker_and_the_default_stack(monkeypatch):
    monkeypatch.setattr(compose.shutil, "which", lambda _name: None)
    with pytest.raises(compose.ComposeUnavailable, match="docker CLI not found.*STACK=embedded"):
        compose.compose_command()


def test_without_the_compose_plugin_the_error_says_so(monkeypatch):
    monkeypatch.setattr(compose.shutil, "which", lambda _name: "/usr/bin/docker")
    monkeypatch.setattr(
        compose.subprocess, "run",
        lambda *a, **k: subprocess.CompletedProcess(a[0], 1, "", "unknown command: docker compose"),
    )
    with pytest.raises(compose.ComposeUnavailable, match="Compose plugin"):
        compose.compose_command()


def test_cli_exits_2_and_writes_nothing_when_compose_is_unavailable(monkeypatch, capsys, tmp_path):
    from emulation.control.cli import main

    monkeypatch.setattr(compose, "SECRET_DIR", tmp_path / "compose")
    monkeypatch.setattr(compose, "SUPERUSER_PASSWORD", tmp_path / "compose" / "pw")
    monkeypatch.setattr(compose.shutil, "which", lambda _name: None)
    assert main(["down", "--stack", "compose"]) == 2
    assert "needs Docker" in capsys.readouterr().err
    assert not (tmp_path / "compose").exists()


def test_secret_is_generated_once_with_owner_only_access(monkeypatch, tmp_path):
    monkeypatch.setattr(compose, "SECRET_DIR", tmp_path / "compose")
    monkeypatch.setattr(compose, "SUPERUSER_PASSWORD", tmp_path / "compose" / "pw")
    compose.ensure_secret()
    first = compose.SUPERUSER_PASSWORD.read_text()
    compose.ensure_secret()
    assert compose.SUPERUSER_PASSWORD.read_text() == first and len(first) >= 24
    assert stat.S_IMODE(compose.SUPERUSER_PASSWORD.stat().st_mode) == 0o600


def test_env_uses_the_embedded_targets_ports(monkeypatch, tmp_path):
    monkeypatch.setattr(compose, "SUPERUSER_PASSWORD", tmp_path / "pw")
    (tmp_path / "pw").write_text("s3cret")
    monkeypatch.setattr(compose, "_api_key", lambda *_: "key123")
    env = compose.env_vars()
    defaults = CloudConfig()
    assert env["AWS_ENDPOINT_URL"].endswith(f":{defaults.aws_port}")
    assert env["API_URL"].startswith(f"http://127.0.0.1:{defaults.api_port}/")
    assert f":{defaults.warehouse_port}/" in env["WAREHOUSE_DSN"]
    assert env["API_KEY"] == "key123"


def test_env_points_glue_at_the_published_glue_catalog(monkeypatch, tmp_path):
    """LocalStack community has no Glue API: boto3 and the AWS CLI send Glue calls to
    AWS_ENDPOINT_URL_GLUE, the glue-catalog service compose.yaml publishes on GLUE_PORT."""
    monkeypatch.setattr(compose, "SUPERUSER_PASSWORD", tmp_path / "pw")
    monkeypatch.setattr(compose, "_api_key", lambda *_: None)
    env = compose.env_vars()
    assert env["AWS_ENDPOINT_URL_GLUE"] == f"http://127.0.0.1:{compose.GLUE_PORT}" == "http://127.0.0.1:4570"
    assert env["AWS_ENDPOINT_URL_GLUE"] != env["AWS_ENDPOINT_URL"]
