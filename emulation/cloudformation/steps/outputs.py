"""Provision step 'outputs' (template mode): the stack's Outputs, evaluated once everything exists.

Values AWS assigns at creation come from the local cloud (the REST API's id, API key ids, secret
ARNs); the REST API's `https://<id>.execute-api.<region>.amazonaws.com/` URL becomes the local
gateway's `http://<host>:<api_port>/`, where that stage is served. The result is written to
`<state>/stack-outputs.json` and registered as a stack in moto's CloudFormation, so
`aws cloudformation describe-stacks --stack-name <stack>` answers as on AWS, and `make env` takes
API_URL and API_KEY from them as `python -m deploy env` does from the deployed stack's.

Known gaps vs AWS: the registered stack holds the outputs only (its resources are not CloudFormation
resources of moto); an output that cannot be evaluated is listed with the reason instead of a value.
"""

from __future__ import annotations

import json
from pathlib import Path


def provision(config, resources, names) -> None:
    import boto3

    from emulation.provision.runner import step_client_kwargs

    from ..outputs import OUTPUTS_FILE, evaluate_outputs, stack_template

    kwargs = step_client_kwargs(config)
    outputs = evaluate_outputs(resources, config, lambda service: boto3.client(service, **kwargs))
    path = Path(config.state_dir) / OUTPUTS_FILE
    path.write_text(
        json.dumps({"StackName": resources.stack_name, "Outputs": outputs}, indent=2) + "\n"
    )
    cloudformation = boto3.client("cloudformation", **kwargs)
    try:
        cloudformation.delete_stack(StackName=resources.stack_name)
    except cloudformation.exceptions.ClientError:
        pass
    cloudformation.create_stack(
        StackName=resources.stack_name, TemplateBody=json.dumps(stack_template(outputs))
    )
