"""Apply the warehouse SQL on AWS through the Redshift Data API (run by `python -m deploy deploy`,
or alone with `python -m deploy schema`).

Why the Data API from the deployer's machine rather than a custom resource: the workgroup is in
isolated subnets, and the Data API reaches it without a Lambda in the VPC, an extra endpoint, or
SQL run by CloudFormation (whose failures roll back the whole stack). Every statement is
idempotent, so re-running is safe.

Steps: the description's `schema_files` in order, then each dedicated user (the Firehose loader,
the Glue job's user) with the password from its secret and only its grants (`pipeline.grants`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from pipeline.grants import dedicated_users
from pipeline.resource_schema import Resources

from .bundling import REPO_ROOT

POLL_S = 2.0


class SchemaError(RuntimeError):
    """A statement failed on the warehouse; the message carries Redshift's error."""


def split_statements(sql: str) -> list[str]:
    """Split a SQL file on `;` at line ends, dropping comment-only chunks (the files use no `;` in strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def user_statements(user: str, password: str, grants: list[str]) -> list[str]:
    """CREATE the user with its secret's password, then its grants (`pipeline.grants`)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", user):
        raise SchemaError(f"user name {user!r} is not a plain identifier")
    quoted = password.replace("'", "''")
    return [f"CREATE USER {user} PASSWORD '{quoted}'", *grants]


def apply_schema(session, outputs: dict[str, str], resources: Resources, log=print) -> int:
    """Run every statement; returns how many ran. `outputs` are the stack's outputs."""
    data = session.client("redshift-data")
    secrets = session.client("secretsmanager")
    wg = outputs["WarehouseWorkgroup"]
    db = resources.required_warehouse.database
    admin_arn = _secret_arn(outputs, resources.required_warehouse.admin_secret)
    statements = []
    for rel in resources.required_warehouse.schema_files:
        statements += split_statements((REPO_ROOT / rel).read_text())
    for secret_name, grants in dedicated_users(resources):
        secret = json.loads(
            secrets.get_secret_value(SecretId=_secret_arn(outputs, secret_name))["SecretString"]
        )
        exists = _run(
            data,
            wg,
            db,
            admin_arn,
            f"SELECT 1 FROM pg_user WHERE usename = '{secret['username']}'",
            fetch=True,
        )
        stmts = user_statements(secret["username"], secret["password"], grants)
        if exists:
            stmts[0] = stmts[0].replace("CREATE USER", "ALTER USER", 1)
        statements += stmts
    for i, sql in enumerate(statements, 1):
        log(f"  [{i}/{len(statements)}] {_redact(sql.splitlines()[0])[:100]}")
        _run(data, wg, db, admin_arn, sql)
    return len(statements)


def _secret_arn(outputs: dict[str, str], name: str) -> str:
    from .stack import output_key

    key = output_key("SecretArn", name)
    if key not in outputs:
        raise SchemaError(f"stack output {key} missing: is the stack deployed from this version?")
    return outputs[key]


def _run(data, workgroup: str, db: str, secret_arn: str, sql: str, fetch: bool = False):
    sid = data.execute_statement(
        WorkgroupName=workgroup, Database=db, SecretArn=secret_arn, Sql=sql
    )["Id"]
    while True:
        desc = data.describe_statement(Id=sid)
        if desc["Status"] == "FINISHED":
            break
        if desc["Status"] in ("FAILED", "ABORTED"):
            raise SchemaError(f"{_redact(sql)[:200]!r} failed: {desc.get('Error', desc['Status'])}")
        time.sleep(POLL_S)
    if fetch:
        return data.get_statement_result(Id=sid).get("Records") if desc.get("HasResultSet") else []
    return None


def _redact(sql: str) -> str:
    return re.sub(r"PASSWORD '([^']|'')*'", "PASSWORD '***'", sql)


def schema_files(resources: Resources) -> list[Path]:
    return [REPO_ROOT / rel for rel in resources.required_warehouse.schema_files]
