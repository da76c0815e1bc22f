"""API keys and usage plans as the gateway enforces them (moto stores them but enforces nothing).

Emulates: a method with `apiKeyRequired` accepts a request only when its `x-api-key` header holds
the value of an enabled key attached to a usage plan that includes this API's stage; that plan's
throttle and quota then apply to the key. Keys created or attached later with the AWS CLI
(`aws apigateway create-api-key` / `create-usage-plan-key`) are picked up: an unknown key triggers
a re-read of moto, at most once per `REFRESH_INTERVAL_S`, before it is refused.

Sources, in order: moto's API Gateway (what `emulation.provision.api` created, or the user), else
the key files `emulation.provision.api` keeps in the state folder with the plan in the resource
description (when moto has no such API, e.g. a runtime started without provisioning).

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .throttle import PlanLimits

log = logging.getLogger("localcloud.api")

REFRESH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    limits: PlanLimits


@dataclass(frozen=True)
class ApiDirectory:
    """What the gateway needs from the control plane: ids and the keys allowed on the stage."""

    api_id: str
    resource_ids: dict[str, str]
    keys: dict[str, ApiKeyRecord]
    """Key value -> record (enabled keys attached to a plan covering the stage)."""


def _plan_limits(plan: dict[str, Any]) -> PlanLimits:
    throttle = plan.get("throttle") or {}
    quota = plan.get("quota") or {}
    return PlanLimits(
        rate_limit=float(throttle.get("rateLimit") or 10_000.0),
        burst_limit=int(throttle.get("burstLimit") or 5_000),
        quota_limit=int(quota["limit"]) if quota.get("limit") else None,
        quota_period=quota.get("period") or "DAY",
    )


def read_from_aws(client, api_name: str, stage: str) -> ApiDirectory | None:
    """The REST API `api_name` as an API Gateway client sees it, or None if it does not exist."""
    apis = [a for a in _pages(client, "get_rest_apis") if a.get("name") == api_name]
    if not apis:
        return None
    api_id = apis[0]["id"]
    resource_ids = {r["path"]: r["id"] for r in _pages(client, "get_resources", restApiId=api_id)}
    keys: dict[str, ApiKeyRecord] = {}
    for plan in _pages(client, "get_usage_plans"):
        stages = plan.get("apiStages") or []
        if not any(s.get("apiId") == api_id and s.get("stage") == stage for s in stages):
            continue
        limits = _plan_limits(plan)
        for plan_key in _pages(client, "get_usage_plan_keys", usagePlanId=plan["id"]):
            key = client.get_api_key(apiKey=plan_key["id"], includeValue=True)
            if key.get("enabled", True) and key.get("value"):
                keys[key["value"]] = ApiKeyRecord(key["id"], key.get("name", ""), limits)
    return ApiDirectory(api_id, resource_ids, keys)


def _pages(client, operation: str, **kwargs) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    position = None
    while True:
        page = getattr(client, operation)(**kwargs, **({"position": position} if position else {}))
        items.extend(page.get("items", []))
        position = page.get("position")
        if not position:
            return items


def read_from_state(
    state_dir: Path, key_names: tuple[str, ...], limits: PlanLimits
) -> dict[str, ApiKeyRecord]:
    """Keys from the files `emulation.provision.api` writes (see `key_file`)."""
    from emulation.provision.api import key_file

    keys = {}
    for name in key_names:
        path = key_file(state_dir, key_names, name)
        if path.exists():
            value = path.read_text().strip()
            if value:
                keys[value] = ApiKeyRecord(f"local-{name}", name, limits)
    return keys


class ApiKeyStore:
    """Thread-safe lookup of key values, re-reading its source when an unknown key shows up."""

    def __init__(
        self,
        keys: dict[str, ApiKeyRecord],
        reload: Callable[[], dict[str, ApiKeyRecord] | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._keys = dict(keys)
        self._reload = reload
        self._clock = clock
        self._last_reload = float("-inf")  # the first unknown key may re-read at once
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, value: str) -> ApiKeyRecord | None:
        record = self._keys.get(value)
        if record is not None or self._reload is None:
            return record
        with self._lock:
            if self._clock() - self._last_reload < REFRESH_INTERVAL_S:
                return self._keys.get(value)
            self._last_reload = self._clock()
            try:
                fresh = self._reload()
            except Exception:  # the control plane being down must not take the data plane down
                log.warning(
                    "could not re-read API keys; keeping the %d known",
                    len(self._keys),
                    exc_info=True,
                )
                fresh = None
            if fresh is not None:
                self._keys = fresh
            return self._keys.get(value)
