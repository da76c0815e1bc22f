"""The real scanners on the synthesized template: cdk-nag (AwsSolutions), cfn-lint and checkov.
Every acknowledgment/skip sits on its resource with a reason (deploy/compliance.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bundling import REPO_ROOT

SCAN_VENV = REPO_ROOT / ".venv-scan"
CHECKOV_PIN = "checkov==3.3.30"


def test_cdk_nag_has_no_unacknowledged_findings(synthesized):
    # The fixture's synth raises ValidationFailed on any unacknowledged AwsSolutions error; the
    # report, when written, must list no violation either.
    report = synthesized.outdir / "validation-report.json"
    if report.exists():
        data = json.loads(report.read_text())
        assert [v["ruleName"] for p in data["pluginReports"] for v in p.get("violations", [])] == []
    acknowledged = {
        rule: reason
        for e in _metadata(synthesized)
        if e["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in e["data"].items()
    }
    assert any("AwsSolutions-" in rule for rule in acknowledged)
    short = {rule: reason for rule, reason in acknowledged.items() if len(reason) < 20}
    assert short == {}, "every acknowledgment needs a reason a reviewer can check"


def _metadata(synthesized):
    path = synthesized.outdir / f"{synthesized.stack.stack_name}.metadata.json"
    return [e for entries in json.loads(path.read_text()).values() for e in entries]


def test_cfn_lint_reports_no_errors(synthesized):
    proc = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", str(synthesized.template_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    errors = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == []


def checkov_binary() -> Path:
    """checkov lives in its own venv (.venv-scan): its pins conflict with the project's."""
    explicit = os.environ.get("CHECKOV")
    if explicit:
        return Path(explicit)
    binary = SCAN_VENV / "bin" / "checkov"
    if not binary.exists():
        subprocess.run(
            [shutil.which("python3") or sys.executable, "-m", "venv", str(SCAN_VENV)], check=True
        )
        proc = subprocess.run(
            [
                str(SCAN_VENV / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                CHECKOV_PIN,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"could not install {CHECKOV_PIN} into {SCAN_VENV} (needs PyPI once): {proc.stderr[-1500:]}"
            )
    return binary


def test_checkov_reports_no_failed_checks(synthesized):
    proc = subprocess.run(
        [
            str(checkov_binary()),
            "--skip-download",
            "--quiet",
            "--compact",
            "--framework",
            "cloudformation",
            "-f",
            str(synthesized.template_path),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    data = json.loads(proc.stdout)
    data = data[0] if isinstance(data, list) else data
    failed = [
        f"{c['check_id']} {c['resource']}" for c in data.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], failed
    assert data["summary"]["passed"] > 100
    # Every skip carries a reason a reviewer can read.
    for check in data["results"].get("skipped_checks", []):
        assert len(check.get("check_result", {}).get("suppress_comment", "")) >= 20, check[
            "check_id"
        ]
