"""Each function's settings: the environment variables the stack sets, typed and checked once.

The same style as the local cloud's `emulation.config.CloudConfig` and the stack's
`deploy.settings.DeploySettings`: a frozen dataclass built by `from_environment()`, which names
every variable that is missing instead of failing later on a None. Plain dataclasses rather than
pydantic-settings: nine string variables do not justify another package in the Lambda layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import TypeVar

S = TypeVar("S", bound="FunctionSettings")


class Misconfigured(RuntimeError):
    """Required environment variables are unset or empty: a deployment error."""

    def __init__(self, function: str, missing: list[str]):
        self.function, self.missing = function, missing
        super().__init__(f"{function} is misconfigured: set {', '.join(missing)}")


@dataclass(frozen=True)
class FunctionSettings:
    """A field `foo_bar` is read from FOO_BAR; a field without a default is required."""

    FUNCTION = "function"

    @classmethod
    def from_environment(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        missing: list[str] = []
        for field in fields(cls):
            value = env.get(field.name.upper(), "")
            if value:
                values[field.name] = value
            elif field.default is MISSING:
                missing.append(field.name.upper())
        if missing:
            raise Misconfigured(cls.FUNCTION, missing)
        return cls(**values)


@dataclass(frozen=True)
class IngestSettings(FunctionSettings):
    FUNCTION = "sales-ingest"
    stream_name: str
    claim_table: str


@dataclass(frozen=True)
class TablesSettings(FunctionSettings):
    """The projector writes both tables; the query function reads them."""

    invoice_table: str
    customer_table: str


@dataclass(frozen=True)
class ProjectorSettings(TablesSettings):
    FUNCTION = "sales-projector"


@dataclass(frozen=True)
class QuerySettings(TablesSettings):
    FUNCTION = "sales-query"


@dataclass(frozen=True)
class ArchiverSettings(FunctionSettings):
    FUNCTION = "sales-archiver"
    archive_bucket: str
    archive_prefix: str = ""
