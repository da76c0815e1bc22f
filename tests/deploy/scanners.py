"""Run the template scanners (cfn-lint 1.x, checkov) and return their findings, or fail the test.

A scanner that is missing, crashes or prints no report is a test failure, never an empty list of
findings: a test that passes on a scanner that did not run proves nothing.
"""

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
CFN_LINT_FATAL = 1
"""cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational; bit 1 is a crash."""


def cfn_lint_binary() -> Path:
    """cfn-lint 1.x's entry point is its console script (there is no `python -m cfnlint`)."""
    binary = Path(sys.executable).parent / "cfn-lint"
    if not binary.exists():
        pytest.fail(f"cfn-lint is not installed in {binary.parent}: run `make install`")
    return binary


def cfn_lint(template: Path) -> list[dict]:
    """cfn-lint's findings on `template` (every level), as its JSON report lists them."""
    proc = subprocess.run(
        [str(cfn_lint_binary()), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode & CFN_LINT_FATAL:
        pytest.fail(f"cfn-lint crashed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    try:
        findings = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint printed no JSON report (exit {proc.returncode}): "
                    f"{proc.stdout[-500:]} {proc.stderr[-1500:]}")
    if bool(findings) != bool(proc.returncode):
        pytest.fail(f"cfn-lint exit {proc.returncode} disagrees with its {len(findings)} findings")
    return findings


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
            [str(SCAN_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
             CHECKOV_PIN],
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


def checkov(template: Path) -> dict:
    """checkov's CloudFormation report on `template`: {"passed": [...], "failed": [...],
    "skipped": [...], "summary": {...}}. No `--quiet`: it would drop the skipped checks."""
    proc = subprocess.run(
        [str(checkov_binary()), "--skip-download", "--compact", "--framework", "cloudformation",
         "-f", str(template), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}")
    data = data[0] if isinstance(data, list) else data
    if "results" not in data or data.get("summary", {}).get("resource_count", 0) == 0:
        pytest.fail(f"checkov scanned no resource of {template}: {json.dumps(data)[:500]}")
    results = data["results"]
    return {
        "passed": results.get("passed_checks", []),
        "failed": results.get("failed_checks", []),
        "skipped": results.get("skipped_checks", []),
        "summary": data["summary"],
    }


def finding_key(check: dict) -> tuple[str, str]:
    """(check id, logical id) of a checkov result; its `resource` is `AWS::Type.LogicalId`."""
    return check["check_id"], check["resource"].rsplit(".", 1)[-1]
