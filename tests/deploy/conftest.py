"""One synthesis per test session (it takes tens of seconds): the template, its assertions object
and the cloud assembly folder are shared by every deploy test."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Synthesized:
    outdir: Path
    template_path: Path
    template: dict
    assertions: object
    stack: object
    seconds: float

    def resources(self, cfn_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    from aws_cdk.assertions import Template

    from deploy.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.monotonic()
    app, stack = build_app(outdir=str(outdir))
    app.synth()
    seconds = time.monotonic() - started
    path = outdir / f"{stack.stack_name}.template.json"
    template = json.loads(path.read_text())
    return Synthesized(outdir, path, template, Template.from_json(template), stack, seconds)
