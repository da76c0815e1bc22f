"""Options shared by every test directory.

`--stack` is registered here, not in tests/integration/conftest.py: pytest reads command-line
options only from the conftest files it loads before parsing the command line (the rootdir's and
those above the given paths), so `pytest`, `pytest tests` and `pytest tests/integration/...` all
accept it only if it lives at this level. What it means: tests/integration/stack.py.
"""

from __future__ import annotations

import pytest

from tests.integration import stack


def pytest_addoption(parser):
    parser.addoption(
        "--stack",
        choices=stack.STACKS,
        default=None,
        help=f"integration target: embedded (default; starts a private local cloud) or compose "
        f"(attaches to `make up STACK=compose`); default from ${stack.ENV_VAR}",
    )


def pytest_configure(config):
    try:
        stack.of(config)
    except ValueError as exc:  # a bad PIPELINE_STACK: refuse before collecting anything
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    return f"integration target: --stack={stack.of(config)}"
