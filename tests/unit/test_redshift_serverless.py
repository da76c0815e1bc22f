"""emulation.redshift.serverless: the local warehouse described in Redshift Serverless's shapes
(tests/integration/test_aws_clients.py asks it through the AWS CLI and connects to the endpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulation.config import CloudConfig
from emulation.redshift.serverless import StandIn
from pipeline.resources import PIPELINE


@pytest.fixture
def stand_in(tmp_path):
    return StandIn(CloudConfig(state_dir=Path(tmp_path), warehouse_port=5469), PIPELINE, "123456789012")


def test_the_workgroup_is_the_project_with_the_local_endpoint_and_capacity(stand_in):
    status, doc = stand_in.answer("GetWorkgroup", {"workgroupName": "ecommerce-pipeline"})
    workgroup = doc["workgroup"]
    assert status == 200 and workgroup["status"] == "AVAILABLE"
    assert workgroup["endpoint"] == {"address": "127.0.0.1", "port": 5469, "vpcEndpoints": []}
    assert workgroup["baseCapacity"] == PIPELINE.warehouse.base_rpu
    assert workgroup["workgroupArn"].startswith("arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/")
    assert stand_in.answer("ListWorkgroups", {}) == (200, {"workgroups": [workgroup]})


def test_the_namespace_names_the_database_and_admin_user(stand_in):
    status, doc = stand_in.answer("GetNamespace", {"namespaceName": "ecommerce-pipeline"})
    assert status == 200
    assert doc["namespace"]["dbName"] == "ecommerce" and doc["namespace"]["adminUsername"] == "warehouse_admin"


def test_an_external_warehouse_is_described_by_its_dsn(tmp_path):
    config = CloudConfig(state_dir=Path(tmp_path), warehouse_dsn="host=db.example port=6543 dbname=sales")
    _, doc = StandIn(config, PIPELINE, "1").answer("ListWorkgroups", {})
    assert doc["workgroups"][0]["endpoint"]["address"] == "db.example"
    assert doc["workgroups"][0]["port"] == 6543


@pytest.mark.parametrize("operation, request_, code, words", [
    ("GetWorkgroup", {"workgroupName": "other"}, "ResourceNotFoundException", "ecommerce-pipeline"),
    ("GetNamespace", {}, "ResourceNotFoundException", "namespace"),
    ("CreateWorkgroup", {"workgroupName": "w"}, "UnknownOperationException", "ListWorkgroups"),
    ("GetCredentials", {}, "UnknownOperationException", "not emulated"),
])
def test_everything_else_is_a_json_error_naming_what_is_emulated(stand_in, operation, request_, code, words):
    status, doc = stand_in.answer(operation, request_)
    assert status == 400 and doc["__type"] == code and words in doc["message"]
