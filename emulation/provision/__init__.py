"""Provision the local cloud from the resource description, one module per resource family.

Every module here exposes `provision(config, resources, names) -> None`, is idempotent (a second
`make up` changes nothing), and creates resources through boto3 against the local cloud's
endpoint, the way a user could with the AWS CLI. `emulation.registry.PROVISION_STEPS` lists them;
`runner` runs them, each as soon as the steps it depends on are done.
"""
