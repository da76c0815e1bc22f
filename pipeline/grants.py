"""What each dedicated warehouse user may do, derived from the resource description.

Both targets apply these statements as the admin (Redshift SQL: `deploy/schema.py` through the
Data API on AWS, `emulation/provision/warehouse.py` on the local stand-in), so the local Glue and
Firehose runs prove the grants AWS gets.

- Firehose loader: USAGE on its table's schema, INSERT on the table (its COPY), nothing else.
- Glue job user: the analytics tables it merges into and its staging tables. The job's preactions
  run `CREATE TABLE IF NOT EXISTS <staging> (LIKE <target>)` then TRUNCATE it, so: CREATE on the
  schema (PostgreSQL and Redshift check it even when the table exists), the staging tables created
  here by the admin (same statement) with SELECT/INSERT/DELETE/TRUNCATE, the sales table with
  SELECT/INSERT/UPDATE (MERGE), the quarantine table with SELECT/INSERT/DELETE (replace by key).
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
STAGING_SUFFIX = "_staging"
"""The Glue script stages every warehouse write in `<table>_staging` (sales_batch_job.py)."""


def _checked(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain [schema.]identifier")
    return name


def firehose_grants(table: str, user: str) -> list[str]:
    schema = table.rpartition(".")[0] or "public"
    return [
        f"GRANT USAGE ON SCHEMA {_checked(schema)} TO {_checked(user)}",
        f"GRANT INSERT ON {_checked(table)} TO {user}",
    ]


def glue_grants(job, user: str) -> list[str]:
    """Admin statements: the job's staging tables, then the user's grants (idempotent)."""
    target = _checked(job.default_arguments["--TARGET_TABLE"])
    quarantine = _checked(job.default_arguments["--QUARANTINE_TABLE"])
    _checked(user)
    schemas = sorted({t.rpartition(".")[0] or "public" for t in (target, quarantine)})
    out = [f"GRANT USAGE, CREATE ON SCHEMA {s} TO {user}" for s in schemas]
    for table in (target, quarantine):
        out.append(
            f"CREATE TABLE IF NOT EXISTS {table}{STAGING_SUFFIX} (LIKE {table} INCLUDING DEFAULTS)"
        )
        out.append(f"GRANT SELECT, INSERT, DELETE, TRUNCATE ON {table}{STAGING_SUFFIX} TO {user}")
    out.append(f"GRANT SELECT, INSERT, UPDATE ON {target} TO {user}")
    out.append(f"GRANT SELECT, INSERT, DELETE ON {quarantine} TO {user}")
    return out


def dedicated_users(resources) -> list[tuple[str, list[str]]]:
    """(secret name, grant statements) of every dedicated user the description declares."""
    users = []
    by_name = {s.name: s for s in resources.secrets}
    for fh in resources.firehoses:
        users.append(
            (fh.loader_secret, firehose_grants(fh.table, by_name[fh.loader_secret].username))
        )
    for job in resources.glue_jobs:
        if job.warehouse_secret:
            users.append(
                (job.warehouse_secret, glue_grants(job, by_name[job.warehouse_secret].username))
            )
    return users
