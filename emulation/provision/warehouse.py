"""Provision step 'warehouse': credentials in Secrets Manager, database users, schema migrations.

As on AWS (Redshift Serverless + Secrets Manager):
- the admin user and each dedicated user (the Firehose loader, the Glue job's user) get a
  generated password (`secrets` module), stored in Secrets Manager under the description's secret names as
  `{"username","password","host","port","dbname","engine"}`; an existing secret keeps its
  password, so a second `make up` changes nothing and connections keep working;
- the PostgreSQL roles are created (or their password set to the secret's) by the superuser;
- the bookkeeping tables of the stand-in (`localcloud.statement_log`, `stl_load_errors`) exist;
- the description's `schema_files` (Redshift SQL) are applied as the admin user through
  `emulation.redshift.connection`, so the admin owns the schemas as on AWS;
- each dedicated user gets exactly the grants of `pipeline.grants` (the statements the AWS schema
  step runs), applied as the admin role, so local Firehose and Glue runs prove those grants.

The bookkeeping and the migrations are skipped when `localcloud.applied_migrations` holds the
digest of what they would apply (the schema files and the stand-in's SQL sources) and every
Firehose target table exists, so a warm `make up` neither imports sqlglot nor re-parses the SQL.

No password is ever printed or logged.

Known gaps vs AWS: in the package docstring (`emulation.provision`).
"""

from __future__ import annotations

import hashlib
import json
import secrets as pysecrets
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from emulation.config import REPO_ROOT
from pipeline.grants import dedicated_users

ENGINE = "redshift"


def provision(config, resources, names) -> None:
    if resources.warehouse is None:
        return
    from emulation.redshift import server as embedded

    superuser = embedded.superuser_dsn(config)
    endpoint = _endpoint(config, superuser, resources.warehouse.database)
    client = _secrets_client(config)
    by_name = {s.name: s for s in resources.secrets}
    admin = ensure_secret(client, by_name[resources.warehouse.admin_secret], endpoint)
    users = [
        (ensure_secret(client, by_name[name], endpoint), grants)
        for name, grants in dedicated_users(resources)
    ]
    digest = migration_digest(resources, admin["username"])
    with psycopg.connect(superuser, autocommit=True) as conn:
        current = migrations_current(conn, digest, [fh.table for fh in resources.firehoses])
        if not current:
            from emulation.redshift.connection import install_bookkeeping

            install_bookkeeping(superuser)
        ensure_role(conn, admin, endpoint["dbname"], admin=True)
        for user, _grants in users:
            ensure_role(conn, user, endpoint["dbname"], admin=False)
        if not current:
            migrate(config, resources, admin)
            record_migrations(conn, digest)
        for _user, grants in users:
            apply_grants(conn, admin["username"], grants)


# What the applied SQL is made of: the schema files, plus the bookkeeping and the Redshift->PostgreSQL
# reduction, which live in these modules (an edit to them re-applies the schema once).
MIGRATION_SOURCES = ("emulation/redshift/connection.py", "emulation/redshift/dialect.py")


def migration_digest(resources, admin_user: str) -> str:
    digest = hashlib.sha256(admin_user.encode())
    for path in (*resources.warehouse.schema_files, *MIGRATION_SOURCES):
        digest.update(path.encode() + b"\0" + (Path(REPO_ROOT) / path).read_bytes())
    return digest.hexdigest()


def migrations_current(conn, digest: str, tables: list[str]) -> bool:
    """The migrations with this digest were applied and the tables Firehose loads still exist."""
    if conn.execute("SELECT to_regclass('localcloud.applied_migrations')").fetchone()[0] is None:
        return False
    if not conn.execute("SELECT 1 FROM localcloud.applied_migrations WHERE digest = %s",
                        (digest,)).fetchone():  # fmt: skip
        return False
    return all(conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] for t in tables)


def record_migrations(conn, digest: str) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS localcloud.applied_migrations "
        "(digest text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute("INSERT INTO localcloud.applied_migrations (digest) VALUES (%s) "
                 "ON CONFLICT (digest) DO NOTHING", (digest,))  # fmt: skip


def _endpoint(config, superuser_dsn: str, database: str) -> dict:
    """Where clients reach the warehouse: the embedded server's TCP port, or the external DSN's."""
    if config.warehouse_dsn:
        parts = conninfo_to_dict(config.warehouse_dsn)
        return {
            "host": parts.get("host") or "127.0.0.1",
            "port": int(parts.get("port") or 5432),
            "dbname": parts.get("dbname") or database,
        }
    parts = conninfo_to_dict(superuser_dsn)
    return {
        "host": parts.get("host") or config.host,
        "port": int(parts.get("port") or config.warehouse_port),
        "dbname": parts.get("dbname") or database,
    }


def _secrets_client(config):
    import boto3

    return boto3.client(
        "secretsmanager",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ensure_secret(client, spec, endpoint: dict) -> dict:
    """The secret's value, created with a fresh password if missing (endpoint fields kept current)."""
    try:
        current = json.loads(client.get_secret_value(SecretId=spec.name)["SecretString"])
    except client.exceptions.ResourceNotFoundException:
        current = None
    value = {
        "username": spec.username,
        "password": (current or {}).get("password") or pysecrets.token_urlsafe(32),
        **endpoint,
        "engine": ENGINE,
    }
    if current is None:
        client.create_secret(
            Name=spec.name, Description=spec.description, SecretString=json.dumps(value)
        )
    elif current != value:
        client.put_secret_value(SecretId=spec.name, SecretString=json.dumps(value))
    return value


def ensure_role(conn, secret: dict, database: str, *, admin: bool) -> None:
    user = secret["username"]
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(secret["password"])
        )
    )
    conn.execute(
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(user)
        )
    )
    if admin:
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(user)
            )
        )


def migrate(config, resources, admin_secret: dict) -> None:
    from emulation.redshift.connection import connect, dsn_from_secret

    with connect(
        dsn_from_secret(admin_secret), aws_endpoint=config.aws_endpoint, region=config.region
    ) as rs:
        for path in resources.warehouse.schema_files:
            script = (Path(REPO_ROOT) / path).read_text()
            rs.execute(script, label=f"migrate:{path}")


def apply_grants(conn, admin_user: str, statements: list[str]) -> None:
    """Run a dedicated user's grant statements as the admin role (who owns the schemas, as on AWS).
    They are plain SQL that Redshift and PostgreSQL read alike, so no reduction is needed."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(admin_user)))
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.execute("RESET ROLE")
