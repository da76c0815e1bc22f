"""Provision the local cloud from the resource description, one module per resource family.

Every module here exposes `provision(config, resources, names) -> None`, is idempotent (a second
`make up` changes nothing), and creates resources through boto3 against the local cloud's
endpoint, the way a user could with the AWS CLI. Order matters: core resources first.
"""

from __future__ import annotations

import importlib

from emulation.config import CloudConfig
from emulation.naming import LocalNames

STEPS = (
    "emulation.provision.core",       # streams, tables, buckets, queues, roles, functions
    "emulation.provision.warehouse",  # secrets, database users, schema migrations
    "emulation.provision.api",        # REST API, stage, API key, usage plan
    "emulation.provision.firehose",   # delivery stream record in the AWS API
    "emulation.provision.glue",       # Data Catalog database/table, job, connection
)


def provision_all(config: CloudConfig, resources) -> None:
    names = LocalNames(resources, config.region)
    for step in STEPS:
        importlib.import_module(step).provision(config, resources, names)
