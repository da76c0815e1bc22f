"""The functions' settings name every missing variable at once, and an empty one counts as
missing (CloudFormation sets an unresolved value to "")."""

from __future__ import annotations

import pytest

from pipeline.handlers.settings import (
    ArchiverSettings,
    IngestSettings,
    Misconfigured,
    ProjectorSettings,
    QuerySettings,
)


def test_every_required_variable_is_read_by_its_name():
    settings = IngestSettings.from_environment({"STREAM_NAME": "s", "CLAIM_TABLE": "c"})
    assert (settings.stream_name, settings.claim_table) == ("s", "c")


def test_all_missing_variables_are_named_with_the_function():
    with pytest.raises(Misconfigured) as caught:
        ProjectorSettings.from_environment({"UNRELATED": "x"})
    assert caught.value.missing == ["INVOICE_TABLE", "CUSTOMER_TABLE"]
    assert str(caught.value) == "sales-projector is misconfigured: set INVOICE_TABLE, CUSTOMER_TABLE"


def test_an_empty_variable_is_missing():
    with pytest.raises(Misconfigured, match="sales-query is misconfigured: set CUSTOMER_TABLE$"):
        QuerySettings.from_environment({"INVOICE_TABLE": "i", "CUSTOMER_TABLE": ""})


def test_an_optional_variable_keeps_its_default():
    settings = ArchiverSettings.from_environment({"ARCHIVE_BUCKET": "b"})
    assert (settings.archive_bucket, settings.archive_prefix) == ("b", "")
    assert ArchiverSettings.from_environment(
        {"ARCHIVE_BUCKET": "b", "ARCHIVE_PREFIX": "raw/"}
    ).archive_prefix == "raw/"


def test_misconfigured_is_a_runtime_error_so_a_stream_batch_fails_whole():
    with pytest.raises(RuntimeError, match="ARCHIVE_BUCKET"):
        ArchiverSettings.from_environment({})
