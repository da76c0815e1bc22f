"""CloudFormation's intrinsic functions, evaluated against the local cloud's physical names.

`Evaluator(stack, ids).value(node, where)` resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
`Fn::Select`, `Fn::Split`, `Fn::GetAZs`, `Fn::FindInMap`, `Fn::Base64`, `Fn::If` (with the
template's `Conditions`, `Fn::Equals`/`Not`/`And`/`Or`), pseudo parameters and parameter defaults.
What `Ref`/`Fn::GetAtt` give per resource type is `physical.PhysicalIds`'s job. Dynamic references
(`{{resolve:secretsmanager:...}}`) are strings CloudFormation resolves at deploy time from the secret;
they are left in the value and parsed by `dynamic_references` where a translation needs the secret.

Known gaps vs CloudFormation: `Fn::ImportValue` (no other stacks), `Fn::Cidr`, `Fn::Transform`
and the language extensions (`Fn::ForEach`, `Fn::Length`, `Fn::ToJsonString`) are refused with the
place they occur; a parameter without a default (or an SSM parameter type) is unresolvable.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from .assembly import TemplateError

NO_VALUE = object()
"""`Ref: AWS::NoValue`: the enclosing property or list item is removed."""
_SUB = re.compile(r"\$\{([^}]*)\}")
_DYNAMIC = re.compile(r"\{\{resolve:(?P<service>[a-z-]+):(?P<body>.*?)\}\}")


class Unresolvable(TemplateError):
    """A value that only AWS can give (or a function this evaluator refuses), with its place."""


@dataclass(frozen=True)
class DynamicReference:
    service: str
    """`secretsmanager`, `ssm` or `ssm-secure`."""
    secret_id: str
    json_key: str | None = None


def dynamic_references(text: str) -> list[DynamicReference]:
    """The `{{resolve:...}}` references in an evaluated string (AWS: resolved at deploy time)."""
    found = []
    for match in _DYNAMIC.finditer(text):
        body = match.group("body")
        if match.group("service") == "secretsmanager":
            # secret-id may be an ARN (with colons): the fields after it are SecretString:key:stage:version
            head, sep, rest = body.partition(":SecretString")
            key = rest.split(":")[1] if sep and len(rest.split(":")) > 1 else ""
            found.append(DynamicReference("secretsmanager", head, key or None))
        else:
            found.append(DynamicReference(match.group("service"), body.split(":")[0]))
    return found


class Evaluator:
    def __init__(self, stack, ids):
        """`stack`: an `assembly.Stack`; `ids`: `physical.PhysicalIds` (Ref and GetAtt values)."""
        self.template = stack.template
        self.ids = ids
        ids.evaluate = self.value
        self._conditions: dict[str, bool] = {}

    def value(self, node: Any, where: str) -> Any:
        """`node` with every intrinsic resolved; `where` names its place for error messages."""
        result = self._eval(node, where)
        return None if result is NO_VALUE else result

    def condition(self, name: str, where: str = "") -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise Unresolvable(f"{where or 'template'}: unknown condition {name!r}")
            self._conditions[name] = bool(self._eval(spec, f"Conditions.{name}"))
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        """False for a resource whose `Condition` is false (CloudFormation skips it)."""
        name = self.template["Resources"][logical_id].get("Condition")
        return True if name is None else self.condition(name, f"Resources.{logical_id}")

    # -- the functions ---------------------------------------------------------------------
    def _eval(self, node: Any, where: str) -> Any:
        if isinstance(node, list):
            items = [self._eval(item, f"{where}[{i}]") for i, item in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Condition":
                return self.condition(arg, where)
            if key.startswith("Fn::"):
                handler = getattr(self, "_fn_" + key[4:].lower(), None)
                if handler is None:
                    raise Unresolvable(f"{where}: {key} is not evaluated by template mode")
                return handler(arg, f"{where}.{key}")
        out = {}
        for key, value in node.items():
            evaluated = self._eval(value, f"{where}.{key}")
            if evaluated is not NO_VALUE:
                out[key] = evaluated
        return out

    def _ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            return self.ids.pseudo(name, where)
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is not None:
            if "Default" not in parameter or parameter.get("Type", "").startswith("AWS::SSM::"):
                raise Unresolvable(
                    f"{where}: parameter {name} has no default template mode can use"
                )
            return parameter["Default"]
        if name not in self.template.get("Resources", {}):
            raise Unresolvable(
                f"{where}: Ref to {name!r}, which is neither a resource nor a parameter"
            )
        return self.ids.ref(name, where)

    def _fn_getatt(self, arg, where: str) -> Any:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        attribute = self._eval(attribute, where)
        if logical_id not in self.template.get("Resources", {}):
            raise Unresolvable(f"{where}: GetAtt of unknown resource {logical_id!r}")
        return self.ids.attribute(logical_id, attribute, where)

    def _fn_join(self, arg, where: str) -> str:
        delimiter, items = arg
        values = self._eval(items, where)
        return delimiter.join(_text(v, where) for v in values)

    def _fn_sub(self, arg, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self._eval(v, f"{where}.{k}") for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name], where)
            if "." in name and not name.startswith("AWS::"):
                return _text(self._fn_getatt(name, where), where)
            return _text(self._ref(name, where), where)

        return _SUB.sub(replace, text)

    def _fn_select(self, arg, where: str) -> Any:
        index, items = self._eval(arg, where)
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError):
            raise Unresolvable(f"{where}: Fn::Select index {index!r} out of {items!r}") from None

    def _fn_split(self, arg, where: str) -> list[str]:
        delimiter, text = arg
        return _text(self._eval(text, where), where).split(delimiter)

    def _fn_getazs(self, arg, where: str) -> list[str]:
        region = self._eval(arg, where) or self.ids.region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_findinmap(self, arg, where: str) -> Any:
        name, first, second = self._eval(arg, where)[:3]
        try:
            return self.template["Mappings"][name][first][second]
        except KeyError:
            raise Unresolvable(f"{where}: no mapping {name}.{first}.{second}") from None

    def _fn_base64(self, arg, where: str) -> str:
        return base64.b64encode(_text(self._eval(arg, where), where).encode()).decode()

    def _fn_if(self, arg, where: str) -> Any:
        name, when_true, when_false = arg
        return self._eval(when_true if self.condition(name, where) else when_false, where)

    def _fn_equals(self, arg, where: str) -> bool:
        left, right = self._eval(arg, where)
        return left == right

    def _fn_not(self, arg, where: str) -> bool:
        return not self._eval(arg, where)[0]

    def _fn_and(self, arg, where: str) -> bool:
        return all(self._eval(arg, where))

    def _fn_or(self, arg, where: str) -> bool:
        return any(self._eval(arg, where))


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Unresolvable(f"{where}: {value!r} is not a string")
