"""Where the stack goes: region, availability zones and cost knobs, from CDK context or environment.

Synthesis never calls AWS: the availability zones are given, not looked up, so `make synth` works
offline and the template names real zones (Redshift Serverless needs subnets in three of them).
Override with `-c region=eu-west-1 -c azs=eu-west-1a,eu-west-1b,eu-west-1c` or `AWS_REGION`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pipeline.resource_schema import Resources

_AZ = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
_CRON = re.compile(r"cron\((\S+ ){5}\S+\)")


class SettingsError(ValueError):
    """A context value or environment variable the stack cannot be built from."""


@dataclass(frozen=True)
class DeploySettings:
    region: str
    """AWS region of the stack (context `region`, else AWS_REGION / AWS_DEFAULT_REGION, else the
    description's region)."""
    azs: tuple[str, ...]
    """Availability zones of the private subnets: Redshift Serverless requires three."""
    endpoint_azs: int = 1
    """How many of those zones hold interface endpoints: each endpoint costs $0.01/h per zone;
    one zone is enough for a dev pipeline (other zones reach it), three survive a zone outage."""
    stack_name: str = "EcommercePipeline"
    reserve_concurrency: bool = False
    """Apply the description's `reserved_concurrency` (context reserve_concurrency=true). Off by
    default: AWS keeps 100 executions unreserved, so an account at the default quota of 10 cannot
    reserve any; `python -m deploy deploy` checks the quota before deploying when it is on."""
    batch_schedule: str = "cron(15 * * * ? *)"
    """When the Glue trigger starts the batch job (Glue cron syntax, UTC): hourly at :15 by default,
    so the analytics tables trail the archive by at most about an hour (cost: docs/deploy.md)."""

    @classmethod
    def from_context(cls, get, resources: Resources, env=os.environ) -> DeploySettings:
        """`get(key)` reads one CDK context value (None when unset)."""
        region = (
            get("region")
            or env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or resources.region
        )
        raw_azs = get("azs")
        azs = (
            tuple(a.strip() for a in raw_azs.split(","))
            if raw_azs
            else tuple(f"{region}{z}" for z in "abc")
        )
        endpoint_azs = int(get("endpoint_azs") or 1)
        settings = cls(
            region=region,
            azs=azs,
            endpoint_azs=endpoint_azs,
            stack_name=get("stack_name") or cls.stack_name,
            batch_schedule=get("batch_schedule") or cls.batch_schedule,
            reserve_concurrency=_flag(get("reserve_concurrency"), "reserve_concurrency"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if len(self.azs) < 3:
            raise SettingsError(
                f"azs={','.join(self.azs)}: Redshift Serverless needs subnets in 3 zones; pass -c azs=a,b,c"
            )
        for az in self.azs:
            if not _AZ.match(az) or not az.startswith(self.region):
                raise SettingsError(
                    f"availability zone {az!r} is not a zone of region {self.region!r}; pass -c azs=..."
                )
        from .firehose_cidrs import FIREHOSE_CIDRS

        if self.region not in FIREHOSE_CIDRS:
            raise SettingsError(
                f"region {self.region!r} has no Firehose address block in deploy/firehose_cidrs.py: "
                "the stream leg could not reach the warehouse there; pick another region or add it "
                "from the Firehose developer guide"
            )
        if not _CRON.fullmatch(self.batch_schedule):
            raise SettingsError(
                f"batch_schedule={self.batch_schedule!r} is not a Glue schedule: "
                "pass -c 'batch_schedule=cron(15 * * * ? *)' (6 fields, UTC)"
            )
        if not 1 <= self.endpoint_azs <= len(self.azs):
            raise SettingsError(
                f"endpoint_azs={self.endpoint_azs} must be between 1 and {len(self.azs)}"
            )


def _flag(value, key: str) -> bool:
    """A boolean context value: true/false/1/0 (CDK context from `-c` arrives as a string)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise SettingsError(f"{key}={value!r}: pass true or false")
