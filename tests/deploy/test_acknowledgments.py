"""Every scanner acknowledgment answers a real finding (item 12 of issue 11).

An acknowledgment or skip that matches no finding is dead text that hides the next real finding
of that rule on that resource. The stack is synthesized with cdk-nag acknowledgments recorded
instead of applied, and scanned by checkov with its skips removed: each acknowledgment must match
a finding cdk-nag then reports on its construct (or below it), each checkov skip a failed check of
its resource."""

from __future__ import annotations

import json

import pytest

from deploy.compliance import RECORD_CONTEXT, RECORD_METADATA

from .scanners import checkov, finding_key


@pytest.fixture(scope="module")
def unacknowledged(tmp_path_factory):
    """(recorded acknowledgments [(path, rule)], cdk-nag findings [(path, rule)])."""
    from deploy.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.unacknowledged")
    app, stack = build_app(context={RECORD_CONTEXT: "true"}, outdir=str(outdir))
    try:
        app.synth()
    except RuntimeError as exc:  # ValidationFailed: the findings, now unacknowledged
        assert str(exc).startswith("ValidationFailed"), exc
    report = json.loads((outdir / "validation-report.json").read_text())
    findings = [(c["constructPath"], v["ruleName"])
                for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"
                for v in p["violations"] for c in v["violatingConstructs"]]
    metadata = json.loads((outdir / f"{stack.stack_name}.metadata.json").read_text())
    recorded = [(path.lstrip("/"), e["data"]["rule"]) for path, entries in metadata.items()
                for e in entries if e["type"] == RECORD_METADATA]
    return recorded, findings


def _matches(path: str, rule: str, findings) -> bool:
    return any(r == rule and (p == path or p.startswith(path + "/")) for p, r in findings)


def test_cdk_nag_reports_findings_when_nothing_is_acknowledged(unacknowledged):
    recorded, findings = unacknowledged
    assert recorded and findings  # the record mode ran and cdk-nag did report


def test_every_cdk_nag_acknowledgment_matches_a_finding(unacknowledged):
    recorded, findings = unacknowledged
    dead = [f"{path}: {rule}" for path, rule in recorded if not _matches(path, rule, findings)]
    assert dead == [], "acknowledgments matching no cdk-nag finding (remove them)"


def test_every_cdk_nag_finding_is_acknowledged(unacknowledged):
    recorded, findings = unacknowledged
    open_ = [f"{p}: {r}" for p, r in findings
             if not any(r == rule and (p == path or p.startswith(path + "/"))
                        for path, rule in recorded)]
    assert open_ == []


def test_every_checkov_skip_matches_a_failed_check(synthesized, tmp_path):
    template = json.loads(synthesized.template_path.read_text())
    skips = set()
    for logical, res in template["Resources"].items():
        for skip in res.get("Metadata", {}).pop("checkov", {}).get("skip", []):
            skips.add((skip["id"], logical))
    assert skips
    bare = tmp_path / "no-skips.template.json"
    bare.write_text(json.dumps(template))
    report = checkov(bare)
    assert report["skipped"] == []
    failed = {finding_key(c) for c in report["failed"]}
    assert sorted(skips - failed) == [], f"checkov skips matching no failed check (remove them): {sorted(skips - failed)}"
    assert sorted(failed - skips) == [], f"failed checks with no skip: {sorted(failed - skips)}"
