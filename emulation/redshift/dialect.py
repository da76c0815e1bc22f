"""Reduce Redshift SQL to the PostgreSQL the Redshift stand-in runs (sqlglot, mechanically).

Redshift SQL is parsed with sqlglot's "redshift" dialect; the physical-design clauses PostgreSQL
has no use for (DISTSTYLE, DISTKEY, SORTKEY, ENCODE, BACKUP, WITH NO SCHEMA BINDING) are removed
from the syntax tree, and the tree is generated as "postgres" (GETDATE() becomes CURRENT_TIMESTAMP,
and so on). `COPY ... FROM 's3://...'` is not reduced here: `emulation.redshift.copy` runs it.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

# Table properties that only steer Redshift's storage layout.
_PHYSICAL_PROPERTIES = (
    exp.DistStyleProperty,
    exp.DistKeyProperty,
    exp.SortKeyProperty,
    exp.BackupProperty,
)
_PHYSICAL_COLUMN_CONSTRAINTS = (exp.EncodeColumnConstraint,)


class RedshiftSqlError(ValueError):
    """Raised for SQL the stand-in cannot parse as Redshift."""


@dataclass(frozen=True)
class Statement:
    redshift: str
    """The statement as written (Redshift SQL)."""
    kind: str
    """COPY, CREATE, INSERT, MERGE, SELECT, ... (first keyword, upper case)."""
    tree: exp.Expression


def parse(sql: str) -> list[Statement]:
    """Split a script into statements, each parsed as Redshift SQL."""
    try:
        trees = sqlglot.parse(sql, read="redshift")
    except sqlglot.errors.ParseError as exc:
        raise RedshiftSqlError(f"not valid Redshift SQL: {exc}") from exc
    statements = []
    for tree in trees:
        if tree is None:  # an empty statement between two semicolons
            continue
        assert isinstance(tree, exp.Expression)  # sqlglot types parse() by its base class
        text = tree.sql("redshift")
        statements.append(Statement(redshift=text, kind=_kind(tree, text), tree=tree))
    return statements


def _kind(tree: exp.Expression, text: str) -> str:
    if isinstance(tree, exp.Copy):
        return "COPY"
    return text.split(None, 1)[0].upper() if text else "EMPTY"


def reduce_tree(tree: exp.Expression) -> exp.Expression:
    """A copy of `tree` without Redshift-only physical-design clauses."""
    tree = tree.copy()
    for prop in list(tree.find_all(*_PHYSICAL_PROPERTIES)):
        prop.pop()
    for constraint in list(tree.find_all(exp.ColumnConstraint)):
        if isinstance(constraint.args.get("kind"), _PHYSICAL_COLUMN_CONSTRAINTS):
            constraint.pop()
    for props in list(tree.find_all(exp.Properties)):
        if not props.expressions:
            props.pop()
    if isinstance(tree, exp.Create):
        # Late-binding views (WITH NO SCHEMA BINDING) are the only kind PostgreSQL lacks.
        tree.set("no_schema_binding", None)
    return tree


def to_postgres(statement: Statement | str) -> str:
    """One Redshift statement reduced to PostgreSQL."""
    if isinstance(statement, str):
        parsed = parse(statement)
        if len(parsed) != 1:
            raise RedshiftSqlError(f"expected one statement, got {len(parsed)}")
        statement = parsed[0]
    if statement.kind == "COPY":
        raise RedshiftSqlError("COPY is run by emulation.redshift.copy, not reduced to PostgreSQL")
    return reduce_tree(statement.tree).sql("postgres", comments=False)


def reduce_script(sql: str) -> list[str]:
    """Every statement of a Redshift script, reduced to PostgreSQL, in order."""
    return [to_postgres(s) for s in parse(sql)]
