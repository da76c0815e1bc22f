"""docs/cloudformation.md's table of resource types is the one the code uses."""

from __future__ import annotations

from emulation.cloudformation.resource_types import (
    BEGIN, END, NOT_EMULATED, PARTLY, RESOURCE_TYPES, RUNS, UNKNOWN, markdown, support,
)
from emulation.config import REPO_ROOT


def test_the_docs_table_is_generated_from_the_code():
    doc = (REPO_ROOT / "docs" / "cloudformation.md").read_text()
    table = doc.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == markdown(), "regenerate: python -m emulation.cloudformation.resource_types --write"


def test_every_type_not_run_in_full_says_why():
    for kind, s in RESOURCE_TYPES.items():
        assert s.status in (RUNS, PARTLY, NOT_EMULATED), kind
        if s.status != RUNS:
            assert len(s.note) > 20, kind


def test_custom_and_unknown_types_are_not_emulated_with_a_reason():
    assert support("Custom::UsageLimit").status == NOT_EMULATED
    assert support("AWS::Made::Up") is UNKNOWN and UNKNOWN.status == NOT_EMULATED
