"""The real scanners on the synthesized template: cdk-nag (AwsSolutions), cfn-lint and checkov.
Every acknowledgment/skip sits on its resource with a reason (deploy/compliance.py).

Each scanner is also run on a planted bad template and must report it: a scanner test that passes
on a scanner that did not run (or printed nothing) proves nothing."""

from __future__ import annotations

import json

from .scanners import cfn_lint, checkov

# A bucket with a misspelt property (cfn-lint E3002) and none of the protections checkov asks for.
PLANTED = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {"Planted": {"Type": "AWS::S3::Bucket", "Properties": {"BucketNam": "planted"}}},
}


def _plant(tmp_path):
    path = tmp_path / "planted.template.json"
    path.write_text(json.dumps(PLANTED))
    return path


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


def test_cfn_lint_reports_a_planted_error(tmp_path):
    findings = cfn_lint(_plant(tmp_path))
    assert ("E3002", "Error") in {(f["Rule"]["Id"], f["Level"]) for f in findings}, findings


def test_cfn_lint_reports_no_errors(synthesized):
    findings = cfn_lint(synthesized.template_path)
    errors = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == []
    # What it does report (docs/deploy.md): the explicit zones and CDK's redundant DependsOn.
    assert {f["Rule"]["Id"] for f in findings} <= {"W3010", "W3005"}, findings


def test_checkov_reports_a_planted_finding(tmp_path):
    report = checkov(_plant(tmp_path))
    failed = {c["check_id"] for c in report["failed"]}
    assert "CKV_AWS_18" in failed, failed  # access logging off


def test_checkov_reports_no_failed_checks(synthesized):
    report = checkov(synthesized.template_path)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["failed"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100
    # Every skip carries a reason a reviewer can read (and there are skips to check).
    assert report["skipped"], "checkov listed no skipped check: were the skips dropped?"
    for check in report["skipped"]:
        assert len(check.get("check_result", {}).get("suppress_comment", "")) >= 20, check[
            "check_id"
        ]
