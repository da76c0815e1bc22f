"""A synthesized template -> the description the provisioning steps and runtime services consume.

`describe(cdk_out)` reads the stack (`assembly`), evaluates what it needs (`intrinsics`,
`physical`) and builds a `model.TemplateResources`: every name, setting, environment variable and
argument comes from the template, nothing from `pipeline/resources.py` (except the warehouse SQL
files: they are not in the template; `python -m deploy schema` applies them after `cdk deploy`,
and so does the local warehouse step). AWS's defaults fill what the template leaves out (a mapping
without BisectBatchOnFunctionError does not bisect, as on AWS).

This module translates storage, secrets, functions and mappings; `translate_api` the REST API;
`translate_batch` the warehouse, Firehose and Glue. A setting that would change how data flows
and that the local cloud cannot honour is refused with a `TemplateError` naming the resource.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.resource_schema import EventSourceMapping, Queue, Stream, Table

from .assembly import Stack, TemplateError, read_stack
from .intrinsics import Evaluator
from .model import Asset as AssetSpec
from .model import AssetFunction, GeneratedSecret, NamedBucket, NotRun, TemplateResources
from .physical import PhysicalIds
from .resource_types import IGNORED

ACCOUNT = "123456789012"  # emulation.config.ACCOUNT_ID: moto's account
PREFIX = "cloudformation:"
"""`CloudConfig.resources` of a cloud provisioned from a template: `cloudformation:<cdk.out>`."""


def spec_for(outdir: Path | str) -> str:
    return PREFIX + str(Path(outdir).resolve())


def describe(outdir: Path | str, account: str = ACCOUNT) -> TemplateResources:
    """The description of the stack in `outdir` (cached while the template file is unchanged)."""
    outdir = Path(outdir).resolve()
    stamp = tuple(sorted((p.name, os.stat(p).st_mtime_ns) for p in outdir.glob("*.json")))
    return _describe(str(outdir), account, stamp)


@lru_cache(maxsize=4)
def _describe(outdir: str, account: str, _stamp: tuple) -> TemplateResources:
    return Translator(read_stack(outdir), account).resources()


class Translator:
    def __init__(self, stack: Stack, account: str = ACCOUNT, known: dict | None = None):
        self.stack = stack
        self.ids = PhysicalIds(stack, account, known)
        self.evaluator = Evaluator(stack, self.ids)
        self.template = stack.template
        self.not_run: list[NotRun] = []
        self.problems: list[str] = []

    # -- helpers shared with translate_api / translate_batch ------------------------------------
    def of_type(self, kind: str) -> list[str]:
        return [
            lid
            for lid, r in self.template.get("Resources", {}).items()
            if r["Type"] == kind and self.evaluator.included(lid)
        ]

    def props(self, logical_id: str, *names: str) -> Any:
        """Evaluated Properties of a resource (or the property path `names` in them)."""
        node = self.template["Resources"][logical_id].get("Properties", {})
        where = f"Resources.{logical_id}.Properties"
        for name in names:
            if not isinstance(node, dict) or name not in node:
                return None
            node, where = node[name], f"{where}.{name}"
        return self.evaluator.value(node, where)

    def skip(self, logical_id: str, reason: str) -> None:
        self.not_run.append(
            NotRun(
                logical_id=logical_id,
                resource_type=self.template["Resources"][logical_id]["Type"],
                reason=reason,
            )
        )

    def logical_id_of(self, kind: str, value: Any, attribute: str | None = None) -> str | None:
        """The resource of `kind` whose Ref (or `attribute`) evaluates to `value`."""
        for lid in self.of_type(kind):
            mine = (
                self.ids.ref(lid, "")
                if attribute is None
                else self.ids.attribute(lid, attribute, "")
            )
            if mine == value:
                return lid
        return None

    def asset_dir(self, logical_id: str, location: dict | None) -> Path:
        if not location or "S3Key" not in location:
            raise TemplateError(
                f"{logical_id}: code must be an S3 asset of the assembly (S3Bucket/S3Key)"
            )
        return self.stack.asset(location["S3Key"]).path

    # -- the description ---------------------------------------------------------------------
    def resources(self) -> TemplateResources:
        from .translate_api import api
        from .translate_batch import firehoses, glue, warehouse

        buckets = self._buckets()
        functions = self._functions()
        from .translate_batch import workgroup

        group = workgroup(self)
        described = dict(
            # The description's project names the warehouse (deploy/names.py): the workgroup's name.
            project=self.ids.name(group) if group else self.stack.name,
            region=self.stack.region,
            streams=self._streams(),
            tables=self._tables(),
            buckets=buckets,
            queues=self._queues(),
            secrets=self._secrets(),
            functions=functions,
            event_source_mappings=self._mappings({f.name for f in functions}),
            api=api(self),
            firehoses=firehoses(self),
            warehouse=warehouse(self),
            **glue(self),
        )
        for lid, resource in self.template.get("Resources", {}).items():
            if resource["Type"] not in IGNORED and not self.evaluator.included(lid):
                self.skip(lid, f"its condition {resource['Condition']} is false")
        return TemplateResources(
            **described,
            assembly=str(Path(self.stack.template_path).parent),
            stack_name=self.stack.name,
            assets=self._assets(),
            not_run=tuple(self.not_run),
            problems=tuple(self.problems),
        )

    def _streams(self) -> tuple[Stream, ...]:
        out = []
        for lid in self.of_type("AWS::Kinesis::Stream"):
            p = self.props(lid)
            shards = p.get("ShardCount")
            if (
                shards is None
                and (p.get("StreamModeDetails") or {}).get("StreamMode") != "ON_DEMAND"
            ):
                shards = 1
            out.append(
                Stream(
                    name=self.ids.name(lid),
                    shard_count=int(shards or 4),
                    retention_hours=int(p.get("RetentionPeriodHours", 24)),
                )
            )
        return tuple(out)

    def _tables(self) -> tuple[Table, ...]:
        out = []
        for lid in self.of_type("AWS::DynamoDB::Table"):
            p = self.props(lid)
            types = {
                a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])
            }
            keys = {k["KeyType"]: k["AttributeName"] for k in p.get("KeySchema", [])}
            if any(types.get(name) != "S" for name in keys.values()):
                raise TemplateError(
                    f"{lid}: key attributes {keys} must be strings (S) in template mode"
                )
            out.append(
                Table(
                    name=self.ids.name(lid), partition_key=keys["HASH"], sort_key=keys.get("RANGE")
                )
            )
        return tuple(out)

    def _buckets(self) -> tuple[NamedBucket, ...]:
        out = []
        for lid in self.of_type("AWS::S3::Bucket"):
            name = self.ids.name(lid)
            rules = (self.props(lid, "LifecycleConfiguration") or {}).get("Rules", [])
            staging = any("ExpirationInDays" in r for r in rules)
            out.append(NamedBucket(id=name, name_prefix=name, name=name, staging=staging))
        return tuple(out)

    def _queues(self) -> tuple[Queue, ...]:
        return tuple(Queue(name=self.ids.name(lid)) for lid in self.of_type("AWS::SQS::Queue"))

    def _secrets(self) -> tuple[GeneratedSecret, ...]:
        out = []
        for lid in self.of_type("AWS::SecretsManager::Secret"):
            p = self.props(lid)
            generate, given = p.get("GenerateSecretString"), p.get("SecretString")
            shape = (generate or {}).get("SecretStringTemplate") or given or "{}"
            try:
                username = json.loads(shape).get("username", "")
            except (ValueError, AttributeError):
                username = ""
            out.append(
                GeneratedSecret(
                    name=self.ids.name(lid),
                    username=username,
                    description=p.get("Description", ""),
                    generate=generate,
                    secret_string=given,
                )
            )
        return tuple(out)

    def _functions(self) -> tuple[AssetFunction, ...]:
        layers = {self.ids.ref(lid, ""): lid for lid in self.of_type("AWS::Lambda::LayerVersion")}
        out = []
        for lid in self.of_type("AWS::Lambda::Function"):
            p = self.props(lid)
            runtime = p.get("Runtime", "")
            if not runtime.startswith("python3"):
                self.skip(
                    lid, f"runtime {runtime or 'container image'}: only Python functions run here"
                )
                continue
            layer_dirs = []
            for arn in p.get("Layers", []):
                if arn not in layers:
                    raise TemplateError(f"{lid}: layer {arn} is not a layer of this stack")
                layer_dirs.append(
                    str(self.asset_dir(layers[arn], self.props(layers[arn], "Content")))
                )
            environment = (p.get("Environment") or {}).get("Variables", {})
            out.append(
                AssetFunction(
                    name=self.ids.name(lid),
                    handler=p["Handler"],
                    description=p.get("Description", ""),
                    memory_mb=int(p.get("MemorySize", 128)),
                    timeout_s=int(p.get("Timeout", 3)),
                    environment={k: _env_text(v) for k, v in environment.items()},
                    reserved_concurrency=p.get("ReservedConcurrentExecutions"),
                    code_dir=str(self.asset_dir(lid, p.get("Code"))),
                    layer_dirs=tuple(layer_dirs),
                    runtime=runtime,
                )
            )
        return tuple(out)

    def _mappings(self, functions: set[str]) -> tuple[EventSourceMapping, ...]:
        out = []
        for lid in self.of_type("AWS::Lambda::EventSourceMapping"):
            p = self.props(lid)
            source = str(p.get("EventSourceArn", ""))
            function = str(p["FunctionName"]).split(":function:")[-1].split(":")[0]
            if ":kinesis:" not in source:
                self.skip(lid, f"source {source}: only Kinesis sources are polled here")
                continue
            if function not in functions:
                self.skip(lid, f"function {function} does not run here")
                continue
            if p.get("Enabled") in (False, "false"):
                self.skip(lid, "the mapping is disabled (Enabled: false)")
                continue
            for setting in (
                "FilterCriteria",
                "TumblingWindowInSeconds",
                "StartingPositionTimestamp",
            ):
                if p.get(setting):
                    raise TemplateError(
                        f"{lid}: {setting} is not emulated; delivery would differ from AWS"
                    )
            destination = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            if destination and ":sqs:" not in destination:
                raise TemplateError(
                    f"{lid}: on-failure destination {destination}: only SQS queues here"
                )
            retries, age = p.get("MaximumRetryAttempts"), p.get("MaximumRecordAgeInSeconds")
            out.append(
                EventSourceMapping(
                    function=function,
                    stream=source.rsplit("/", 1)[-1],
                    batch_size=int(p.get("BatchSize", 100)),
                    maximum_batching_window_s=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                    starting_position=p.get("StartingPosition", "TRIM_HORIZON"),
                    bisect_batch_on_function_error=p.get("BisectBatchOnFunctionError")
                    in (True, "true"),
                    maximum_retry_attempts=-1 if retries is None else int(retries),
                    maximum_record_age_s=-1 if age is None else int(age),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in p.get("FunctionResponseTypes", []),
                    on_failure_queue=destination.rsplit(":", 1)[-1] if destination else None,
                    parallelization_factor=int(p.get("ParallelizationFactor", 1)),
                )
            )
        return tuple(out)

    def _assets(self) -> tuple[AssetSpec, ...]:
        substitutions = {
            "${AWS::AccountId}": self.ids.account,
            "${AWS::Region}": self.stack.region,
            "${AWS::Partition}": "aws",
        }
        out = []
        for asset in self.stack.assets:
            bucket = asset.bucket
            for placeholder, value in substitutions.items():
                bucket = bucket.replace(placeholder, value)
            out.append(
                AssetSpec(
                    bucket=bucket,
                    key=asset.object_key,
                    path=str(asset.path),
                    packaging=asset.packaging,
                )
            )
        return tuple(out)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
