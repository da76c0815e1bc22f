"""Redshift Serverless's control plane for the local warehouse: its namespace and workgroup.

On AWS the warehouse is a Redshift Serverless namespace + workgroup named after the project
(`deploy/warehouse.py`); locally it is PostgreSQL (`emulation.redshift.server`). Moto has no Redshift
Serverless, so `aws redshift-serverless list-workgroups` got moto's 500 HTML page. The moto server
now forwards every Redshift Serverless call here (`emulation.moto.patches.redshift_serverless`),
and this module answers the read calls with the stand-in, in AWS's shapes:

    ListWorkgroups / GetWorkgroup     the workgroup `<project>`: status AVAILABLE, base capacity
                                      (the description's RPUs), endpoint address and port of the
                                      local PostgreSQL (what psql / a driver connects to)
    ListNamespaces / GetNamespace     the namespace `<project>`: database name, admin user name

Every other operation (CreateWorkgroup, GetCredentials, usage limits, snapshots, ...) is a JSON
`UnknownOperationException` (400) naming what is emulated; an unknown name is AWS's
`ResourceNotFoundException` (400). The Redshift Data API (ExecuteStatement, ...) is a separate
service and module.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from psycopg.conninfo import conninfo_to_dict

TARGET_PREFIX = "RedshiftServerless."
ROUTE = r"/redshift-serverless/?"
"""The control route moto forwards to: the call's body, `X-Amz-Target` as a header."""
EMULATED = ("ListWorkgroups", "GetWorkgroup", "ListNamespaces", "GetNamespace")


class StandIn:
    """The local warehouse described as one Redshift Serverless namespace and workgroup."""

    def __init__(self, config, resources, account: str):
        warehouse = resources.warehouse
        self.name = resources.project
        self.region, self.account = config.region, account
        self.database = warehouse.database if warehouse else "dev"
        self.base_rpu = warehouse.base_rpu if warehouse else 8
        admin = [s for s in resources.secrets if warehouse and s.name == warehouse.admin_secret]
        self.admin_user = admin[0].username if admin else "admin"
        dsn = getattr(config, "warehouse_dsn", None)
        if dsn:
            parts = conninfo_to_dict(dsn)
            self.host, self.port = parts.get("host") or "127.0.0.1", int(parts.get("port") or 5432)
            self.database = parts.get("dbname") or self.database
        else:
            self.host, self.port = config.host, config.warehouse_port
        self.created = time.time()

    def _id(self, kind: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"localcloud:{kind}:{self.name}"))

    def _arn(self, kind: str) -> str:
        return f"arn:aws:redshift-serverless:{self.region}:{self.account}:{kind}/{self._id(kind)}"

    def workgroup(self) -> dict[str, Any]:
        return {
            "workgroupName": self.name,
            "workgroupId": self._id("workgroup"),
            "workgroupArn": self._arn("workgroup"),
            "namespaceName": self.name,
            "baseCapacity": self.base_rpu,
            "enhancedVpcRouting": False,
            "publiclyAccessible": False,
            "configParameters": [{"parameterKey": "require_ssl", "parameterValue": "false"}],
            "securityGroupIds": [],
            "subnetIds": [],
            "status": "AVAILABLE",
            "port": self.port,
            "endpoint": {"address": self.host, "port": self.port, "vpcEndpoints": []},
            "creationDate": self.created,
        }

    def namespace(self) -> dict[str, Any]:
        return {
            "namespaceName": self.name,
            "namespaceId": self._id("namespace"),
            "namespaceArn": self._arn("namespace"),
            "adminUsername": self.admin_user,
            "dbName": self.database,
            "kmsKeyId": "AWS_OWNED_KMS_KEY",
            "iamRoles": [],
            "logExports": [],
            "status": "AVAILABLE",
            "creationDate": self.created,
        }

    def answer(self, operation: str, request: dict[str, Any]):
        if operation == "ListWorkgroups":
            return 200, {"workgroups": [self.workgroup()]}
        if operation == "ListNamespaces":
            return 200, {"namespaces": [self.namespace()]}
        if operation in ("GetWorkgroup", "GetNamespace"):
            kind = "workgroup" if operation == "GetWorkgroup" else "namespace"
            name = request.get(f"{kind}Name")
            if name != self.name:
                return _error(
                    "ResourceNotFoundException",
                    f"{kind} {name!r} not found: the local cloud's {kind} is {self.name!r}",
                )
            return 200, {kind: self.workgroup() if kind == "workgroup" else self.namespace()}
        return _error(
            "UnknownOperationException",
            f"redshift-serverless {operation} is not emulated by the local cloud: its warehouse "
            f"is one namespace and workgroup {self.name!r} ({', '.join(EMULATED)} are answered)",
        )


def _error(code: str, message: str):
    return 400, {"__type": code, "message": message}


def register_redshift_serverless(control, config, resources, account: str) -> None:
    stand_in = StandIn(config, resources, account)

    def route(_params: dict[str, str], headers: dict[str, str], body: bytes):
        target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else target
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            status, doc = _error("SerializationException", "the request body is not a JSON object")
        else:
            status, doc = stand_in.answer(operation, request)
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if status != 200:
            headers["X-Amzn-ErrorType"] = doc["__type"]
        return status, headers, doc

    control.register("POST", ROUTE, route)
