"""A CDK cloud assembly (`cdk.out`) as CloudFormation deploys it: the stack template and its assets.

`cdk deploy` publishes each asset of `<stack>.assets.json` to the bootstrap bucket under its object
key (a directory is zipped first) and then creates the stack from the template, which names the
assets only by bucket and key (`Code.S3Key`, `ScriptLocation`, `--extra-py-files`). Template mode
does the same lookup backwards: an S3 location in the template -> the asset's file or folder in
`cdk.out`, so functions run from their code folder and the Glue job from its script asset.

Known gaps vs CDK: one stack per assembly (nested stacks and stages are refused); Docker image
assets are refused (nothing here runs containers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_ENVIRONMENT = re.compile(r"^aws://(?P<account>[^/]+)/(?P<region>[^/]+)$")


class TemplateError(ValueError):
    """The assembly or its template cannot be deployed locally; the message says what and where."""


@dataclass(frozen=True)
class Asset:
    id: str
    """The asset hash CDK named it by (also its object key without the extension)."""
    path: Path
    """The file, or the folder CDK zips, in `cdk.out`."""
    packaging: str
    """`file` (uploaded as is) or `zip` (a folder, zipped on upload)."""
    bucket: str
    """Destination bucket, with CDK's `${AWS::AccountId}`-style placeholders."""
    object_key: str


@dataclass(frozen=True)
class Stack:
    name: str
    template: dict
    template_path: Path
    region: str
    """The region the template was synthesized for (its ARNs and URLs name it)."""
    assets: tuple[Asset, ...]

    def asset(self, object_key: str) -> Asset:
        """The asset published under `object_key` (the last path part of an S3 location)."""
        for asset in self.assets:
            if asset.object_key == object_key:
                return asset
        raise TemplateError(
            f"stack {self.name}: no asset with object key {object_key!r} in its asset manifest "
            f"(known: {sorted(a.object_key for a in self.assets)})"
        )


def read_stack(outdir: Path | str, default_region: str = "us-east-1") -> Stack:
    """The one CloudFormation stack of the cloud assembly in `outdir`, with its file assets."""
    outdir = Path(outdir)
    manifest_path = outdir / "manifest.json"
    if not manifest_path.is_file():
        raise TemplateError(
            f"{outdir} is not a cloud assembly (no manifest.json): run `make synth`"
        )
    artifacts = json.loads(manifest_path.read_text()).get("artifacts", {})
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    if len(stacks) != 1:
        raise TemplateError(
            f"{outdir}: template mode deploys exactly one stack, the assembly has {sorted(stacks) or 'none'}"
        )
    name, artifact = next(iter(stacks.items()))
    properties = artifact.get("properties", {})
    template_path = outdir / properties["templateFile"]
    template = json.loads(template_path.read_text())
    match = _ENVIRONMENT.match(artifact.get("environment", ""))
    region = (
        match.group("region")
        if match and match.group("region") != "unknown-region"
        else default_region
    )
    assets: list[Asset] = []
    for dep in artifact.get("dependencies", []):
        dep_artifact = artifacts.get(dep, {})
        if dep_artifact.get("type") == "cdk:asset-manifest":
            assets += _assets(outdir, outdir / dep_artifact["properties"]["file"])
    return Stack(properties.get("stackName", name), template, template_path, region, tuple(assets))


def _assets(outdir: Path, manifest: Path) -> list[Asset]:
    data = json.loads(manifest.read_text())
    if data.get("dockerImages"):
        raise TemplateError(
            f"{manifest}: Docker image assets cannot run here (no container runtime)"
        )
    assets = []
    for asset_id, spec in data.get("files", {}).items():
        source = spec["source"]
        if "path" not in source:  # an executable-built asset: nothing to read
            raise TemplateError(f"{manifest}: asset {asset_id} has no path (built by a command)")
        for destination in spec["destinations"].values():
            assets.append(
                Asset(
                    asset_id,
                    outdir / source["path"],
                    source.get("packaging", "file"),
                    destination["bucketName"],
                    destination["objectKey"],
                )
            )
    return assets
