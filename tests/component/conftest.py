"""What the component tests share: boto3 pointed at moto's in-process `mock_aws`, and the
pipeline's DynamoDB tables created with their real key schemas."""

from __future__ import annotations

import pytest

from pipeline.resources import PIPELINE
from tests.unit.stream_records import REGION


@pytest.fixture
def in_process_aws(monkeypatch):
    """Fake credentials and no endpoint: boto3 talks to `mock_aws`, never to a cloud."""
    for name, value in (("AWS_DEFAULT_REGION", REGION), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return REGION


def create_pipeline_tables(client, *names: str) -> None:
    """The named tables of the pipeline's description (all of them when none is named)."""
    for table in PIPELINE.tables:
        if names and table.name not in names:
            continue
        keys = [(table.partition_key, "HASH")] + ([(table.sort_key, "RANGE")] if table.sort_key else [])
        client.create_table(
            TableName=table.name,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )
