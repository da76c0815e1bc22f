"""Least privilege: each function's role holds exactly its described `permissions` plus the extras
AWS requires (deploy.functions.EXTRAS, each with its reason); no role anywhere allows Action "*",
and Resource "*" appears only for actions AWS offers no resource-level permission for."""

from __future__ import annotations

from deploy.firehose import KINESIS_SOURCE_ACTIONS, S3_DELIVERY_ACTIONS
from deploy.functions import EXTRAS
from deploy.glue import GLUE_DESCRIBE_ACTIONS
from pipeline.resources import PIPELINE

# Actions that may use Resource "*", and why (AWS has no resource-level permission for them).
WILDCARD_ALLOWED = {
    **{a: EXTRAS["eni_describe"][2] for a in EXTRAS["eni_describe"][0]},
    **{a: EXTRAS["xray"][2] for a in EXTRAS["xray"][0]},
    **{
        a: "EC2 Describe* reads support no resource-level permissions"
        for a in GLUE_DESCRIBE_ACTIONS
    },
}


def _statements(policy_doc):
    stmts = policy_doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def _as_list(x):
    return x if isinstance(x, list) else [x]


def role_statements(synthesized, logical_id):
    role = synthesized.template["Resources"][logical_id]["Properties"]
    out = [s for p in role.get("Policies", []) for s in _statements(p["PolicyDocument"])]
    for pol in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": logical_id} in pol["Properties"]["Roles"]:
            out += _statements(pol["Properties"]["PolicyDocument"])
    assert not role.get("ManagedPolicyArns"), f"{logical_id} has managed policies"
    return out


def test_no_action_wildcards_and_resource_wildcards_only_where_aws_requires(synthesized):
    docs = [
        p["Properties"]["PolicyDocument"]
        for p in synthesized.resources("AWS::IAM::Policy").values()
    ]
    docs += [
        p["PolicyDocument"]
        for r in synthesized.resources("AWS::IAM::Role").values()
        for p in r["Properties"].get("Policies", [])
    ]
    assert docs
    for doc in docs:
        for s in _statements(doc):
            actions = _as_list(s["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), s
            if "*" in _as_list(s["Resource"]):
                unexplained = [a for a in actions if a not in WILDCARD_ALLOWED]
                assert not unexplained, f"Resource '*' for {unexplained}: no documented reason"


def test_each_function_role_is_exactly_description_plus_documented_extras(synthesized):
    functions = synthesized.resources("AWS::Lambda::Function")
    mapped = {m.function: m for m in PIPELINE.event_source_mappings}
    for spec in PIPELINE.functions:
        fn = next(f for f in functions.values() if f["Properties"].get("FunctionName") == spec.name)
        role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        granted = {a for s in role_statements(synthesized, role_id) for a in _as_list(s["Action"])}
        expected = {a for p in spec.permissions for a in p.actions}
        expected |= set(EXTRAS["logs"][0]) | set(EXTRAS["eni"][0]) | set(EXTRAS["eni_describe"][0])
        expected |= set(EXTRAS["xray"][0])
        if spec.name in mapped:
            expected |= set(EXTRAS["mapping_read"][0])
            if mapped[spec.name].on_failure_queue:
                expected |= set(EXTRAS["mapping_on_failure"][0])
        assert granted == expected, (
            f"{spec.name}: extra {granted - expected}, missing {expected - granted}"
        )


def test_described_permissions_are_scoped_to_their_resource(synthesized):
    functions = synthesized.resources("AWS::Lambda::Function")
    res = synthesized.template["Resources"]
    kind_type = {
        "stream": "AWS::Kinesis::Stream",
        "table": "AWS::DynamoDB::Table",
        "bucket": "AWS::S3::Bucket",
    }
    for spec in PIPELINE.functions:
        fn = next(f for f in functions.values() if f["Properties"].get("FunctionName") == spec.name)
        stmts = role_statements(synthesized, fn["Properties"]["Role"]["Fn::GetAtt"][0])
        for perm in spec.permissions:
            kind, ident = perm.resource.strip("{}").split(":")
            stmt = next(
                s
                for s in stmts
                if sorted(_as_list(s["Action"])) == sorted(perm.actions)
                and str(s["Resource"]).count("Arn") == 1
                and _refers_to(s["Resource"], res, kind_type[kind], ident)
            )
            assert "*" not in _as_list(stmt["Resource"]), (spec.name, perm)


def _refers_to(resource, all_res, cfn_type, ident) -> bool:
    text = str(resource)
    for logical, r in all_res.items():
        if r["Type"] == cfn_type and f"'{logical}'" in text:
            props = str(r["Properties"])
            return ident in props or (
                cfn_type == "AWS::S3::Bucket" and PIPELINE.bucket(ident).name_prefix in props
            )
    return False


def test_firehose_role_reads_only_its_stream_bucket_and_secret(synthesized):
    roles = [
        r
        for r in synthesized.resources("AWS::IAM::Role").values()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "firehose.amazonaws.com"
    ]
    assert len(roles) == len(PIPELINE.firehoses)
    stmts = [
        s for p in roles[0]["Properties"]["Policies"] for s in _statements(p["PolicyDocument"])
    ]
    actions = {a for s in stmts for a in _as_list(s["Action"])}
    assert actions == set(S3_DELIVERY_ACTIONS) | set(KINESIS_SOURCE_ACTIONS) | {
        "secretsmanager:GetSecretValue",
        "logs:PutLogEvents",
    }
    for s in stmts:
        assert "*" not in _as_list(s["Resource"]), s
