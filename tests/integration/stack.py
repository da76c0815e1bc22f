"""Which target the integration tests run on: `--stack=embedded|compose`, else PIPELINE_STACK.

  embedded (default, what CI runs): `local_cloud` starts a private embedded cloud on free ports.
  compose: `local_cloud` attaches to the stack `make up STACK=compose` started, through the
           variables `make env STACK=compose` prints (`emulation.control.attached`); it starts and stops
           nothing. Tests marked `embedded_only(reason=...)` are skipped there with that reason.

The option wins over the environment variable, so `make test-integration STACK=...` means what
it says whatever the shell exports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

STACKS = ("embedded", "compose")
ENV_VAR = "PIPELINE_STACK"


class StackUnavailable(RuntimeError):
    """The chosen stack is not running or not usable; the message starts with `--stack=...:`."""


def choose(option: str | None, environ: Mapping[str, str]) -> str:
    value = option or environ.get(ENV_VAR, "").strip() or "embedded"
    if value not in STACKS:
        source = "--stack" if option else ENV_VAR
        raise ValueError(f"{source}={value!r} is not a target: choose one of {', '.join(STACKS)}")
    return value


def of(config) -> str:
    """The target of this pytest run (`config.getoption("stack")`, then the environment)."""
    return choose(config.getoption("stack", default=None), os.environ)


def attach(stack: str):
    """The running stack as an `AttachedCloud`, or StackUnavailable saying what to do."""
    from emulation.control.attached import AttachError, attach

    try:
        return attach(stack)
    except AttachError as exc:
        raise StackUnavailable(f"--stack={stack}: {exc}") from None
