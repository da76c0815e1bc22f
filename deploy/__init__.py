"""The CDK app that deploys the pipeline to AWS (see docs/deploy.md)."""

import os

# jsii warns on every start under Node 20; the build machines run Node 20 on purpose.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
