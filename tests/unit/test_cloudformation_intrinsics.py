"""emulation.cloudformation.intrinsics: CloudFormation's functions against local physical names."""

from __future__ import annotations

import pytest

from emulation.cloudformation.assembly import read_stack
from emulation.cloudformation.intrinsics import Evaluator, Unresolvable, dynamic_references
from emulation.cloudformation.physical import PhysicalIds

from .cloudformation_support import minimal_stack, write_assembly


@pytest.fixture
def evaluate(tmp_path):
    def make(extra: dict | None = None, conditions: dict | None = None):
        template = minimal_stack()
        template["Resources"].update(extra or {})
        if conditions:
            template["Conditions"] = conditions
        stack = read_stack(write_assembly(tmp_path / "cdk.out", template))
        return Evaluator(stack, PhysicalIds(stack, "123456789012")).value

    return make


def test_join_sub_and_getatt_give_local_names_and_arns(evaluate):
    value = evaluate()
    assert value({"Ref": "Archive"}, "t") == "archive-123456789012-us-east-1"
    assert value({"Fn::GetAtt": ["Stream", "Arn"]}, "t") == "arn:aws:kinesis:us-east-1:123456789012:stream/events"
    assert value({"Fn::Sub": "${Stream.Arn}|${AWS::Region}|${!Literal}|${Orders}"}, "t") == (
        "arn:aws:kinesis:us-east-1:123456789012:stream/events|us-east-1|${Literal}|orders")
    assert value({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "Failures"}}]}, "t") == (
        "https://sqs.us-east-1.amazonaws.com/123456789012/failures-x")


def test_select_and_split_take_the_secret_name_out_of_its_arn_as_cdk_templates_do(evaluate):
    # What CDK writes for `secret.secret_name` (Glue connection SECRET_ID): name from the ARN.
    expression = {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": "Loader"}]}]}]}]}
    assert evaluate()(expression, "t") == "shop/loader"


def test_no_value_drops_the_property_and_conditions_choose_a_branch(evaluate):
    value = evaluate(conditions={"Prod": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
                                 "NotProd": {"Fn::Not": [{"Condition": "Prod"}]}})
    assert value({"A": {"Ref": "AWS::NoValue"}, "B": 1}, "t") == {"B": 1}
    assert value([{"Ref": "AWS::NoValue"}, "x"], "t") == ["x"]
    assert value({"Fn::If": ["Prod", "big", "small"]}, "t") == "big"
    assert value({"Fn::If": ["NotProd", "big", "small"]}, "t") == "small"


def test_functions_it_cannot_evaluate_are_refused_with_their_place(evaluate):
    value = evaluate()
    with pytest.raises(Unresolvable, match=r"Outputs\.X: Fn::ImportValue is not evaluated"):
        value({"Fn::ImportValue": "other-stack-export"}, "Outputs.X")
    with pytest.raises(Unresolvable, match="attribute 'Nope'"):
        value({"Fn::GetAtt": ["Stream", "Nope"]}, "t")
    with pytest.raises(Unresolvable, match="neither a resource nor a parameter"):
        value({"Ref": "Missing"}, "t")


def test_dynamic_references_name_the_secret_and_the_key():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/admin-abcdef"
    refs = dynamic_references(f"{{{{resolve:secretsmanager:{arn}:SecretString:password::}}}}")
    assert [(r.service, r.secret_id, r.json_key) for r in refs] == [("secretsmanager", arn, "password")]
    assert dynamic_references("{{resolve:ssm:/param/name}}")[0].secret_id == "/param/name"
    assert dynamic_references("plain text") == []
