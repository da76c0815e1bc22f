"""emulation.config: where the local cloud lives, how the environment overrides it, round trips."""

from __future__ import annotations

import os
import socket

import pytest

from emulation.config import CloudConfig, free_ports, load_resources, parse_services


def test_defaults_match_localstack_ports_and_dummy_credentials():
    config = CloudConfig()
    assert (config.aws_port, config.api_port, config.runtime_port, config.warehouse_port) == (
        4566, 4567, 4568, 4569,
    )  # fmt: skip
    assert config.aws_endpoint == "http://127.0.0.1:4566"
    assert config.aws_env() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    assert config.services is None and config.warehouse_dsn is None


def test_environment_overrides_every_port_the_dsn_and_the_services(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALCLOUD_STATE_DIR", str(tmp_path))
    for name, port in (("AWS", 5001), ("API", 5002), ("RUNTIME", 5003), ("WAREHOUSE", 5004)):
        monkeypatch.setenv(f"LOCALCLOUD_{name}_PORT", str(port))
    monkeypatch.setenv("LOCALCLOUD_WAREHOUSE_DSN", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("LOCALCLOUD_SERVICES", "lambda, api")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    config = CloudConfig.from_environment()
    assert config.state_dir == tmp_path
    assert (config.aws_port, config.api_port, config.runtime_port, config.warehouse_port) == (
        5001, 5002, 5003, 5004,
    )  # fmt: skip
    assert config.warehouse_dsn == "postgresql://u:p@db:5432/x"
    assert config.services == ["lambda", "api"]
    assert config.region == "eu-west-1"


def test_what_make_env_exports_never_changes_what_up_does(monkeypatch, tmp_path):
    """`eval "$(make -s env)"` exports WAREHOUSE_DSN (the embedded warehouse's own DSN, for psql)
    and the rest of `LocalCloud.env()`: a later `make up` in that shell must configure the very
    same cloud (the embedded warehouse, not an "external" one)."""
    import json

    from emulation.control.cloud import LocalCloud

    for name in [n for n in os.environ if n.startswith(("LOCALCLOUD_", "WAREHOUSE_", "AWS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOCALCLOUD_STATE_DIR", str(tmp_path))
    before = CloudConfig.from_environment()
    (tmp_path / "warehouse.json").write_text(json.dumps(
        {"dsn": "postgresql://postgres:pw@127.0.0.1:4569/ecommerce", "external": False}))
    (tmp_path / "api_key").write_text("k\n")
    exported = LocalCloud(before).env()
    assert "WAREHOUSE_DSN" in exported and "API_KEY" in exported
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    after = CloudConfig.from_environment()
    assert after == before and after.warehouse_dsn is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("", None), ("  ", None), ("none", []), ("NONE", []), ("lambda", ["lambda"]),
     ("lambda,,mappings ", ["lambda", "mappings"])],
)  # fmt: skip
def test_parse_services(text, expected):
    assert parse_services(text) == expected


def test_on_free_ports_gives_four_distinct_bindable_ports(tmp_path):
    config = CloudConfig.on_free_ports(tmp_path, resources="x:y")
    ports = [config.aws_port, config.api_port, config.runtime_port, config.warehouse_port]
    assert len(set(ports)) == 4
    assert not {4566, 4567, 4568, 4569} & set(ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    assert config.resources == "x:y"


def test_save_and_load_round_trip_every_field(tmp_path):
    config = CloudConfig.on_free_ports(
        tmp_path / "state",
        services=["lambda"],
        extra_env={"A": "1"},
        warehouse_dsn="postgresql://x",
    )
    config.save()
    assert CloudConfig.load(tmp_path / "state") == config


def test_load_without_a_cloud_says_how_to_start_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make up`"):
        CloudConfig.load(tmp_path)


def test_free_ports_are_distinct():
    assert len(set(free_ports(5))) == 5


def test_load_resources_rejects_a_spec_without_attribute():
    with pytest.raises(ValueError, match="module:attribute"):
        load_resources("pipeline.resources")
    assert load_resources("pipeline.resources:PIPELINE").project == "ecommerce-pipeline"
