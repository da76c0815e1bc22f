"""Build the CDK app: the pipeline stack from the resource description, checked by cdk-nag.

`build_app()` is what `cdk synth`, `python -m deploy synth` and the tests call. It never calls AWS:
region and zones come from context (see `deploy.settings`), the account stays a CloudFormation
token, so one template deploys to any account.
"""

from __future__ import annotations

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from pipeline.resource_schema import Resources
from pipeline.resources import PIPELINE

from .settings import DeploySettings
from .stack import PipelineStack

# Feature flags this stack relies on (a `cdk.json` would carry them; the app is built in Python).
FEATURE_FLAGS = {
    # Access logs are granted by bucket policy, so the log bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build_app(
    context: dict | None = None, outdir: str | None = None, resources: Resources = PIPELINE
) -> tuple[App, PipelineStack]:
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    get = app.node.try_get_context
    settings = DeploySettings.from_context(get, resources)
    stack = PipelineStack(
        app,
        settings.stack_name,
        resources=resources,
        settings=settings,
        alarm_email=get("alarm_email"),
        env=Environment(region=settings.region),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    """Entry point of `cdk.json`-less CLI runs: `npx aws-cdk synth --app 'python -m deploy.app'`."""
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
