"""`--stack` / PIPELINE_STACK: which target the integration tests run on, and the option wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.stack import ENV_VAR, choose


def test_neither_given_is_the_embedded_target():
    assert choose(None, {}) == "embedded"
    assert choose(None, {ENV_VAR: "  "}) == "embedded"


def test_the_environment_variable_chooses_when_no_option_is_given():
    assert choose(None, {ENV_VAR: "compose"}) == "compose"
    assert choose(None, {ENV_VAR: " compose\n"}) == "compose"


def test_the_option_wins_over_the_environment_variable():
    assert choose("embedded", {ENV_VAR: "compose"}) == "embedded"
    assert choose("compose", {ENV_VAR: "embedded"}) == "compose"


def test_an_unknown_target_in_the_environment_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match=r"PIPELINE_STACK='aws' is not a target.*embedded"):
        choose(None, {ENV_VAR: "aws"})


def test_the_option_is_registered_for_every_test_directory():
    # A run given only tests/unit parses --stack against the targets: tests/conftest.py (the root
    # of every test directory) registers it. Registered under tests/integration only, this run
    # would say "unrecognized arguments" instead.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "--stack=nope", str(Path(__file__))],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "argument --stack: invalid choice: 'nope' (choose from 'embedded', 'compose')" in run.stderr
