"""Provision the local cloud from the resource description, one module per resource family.

Every module here exposes `provision(config, resources, names) -> None`, is idempotent (a second
`make up` changes nothing), and creates resources through boto3 against the local cloud's
endpoint, the way a user could with the AWS CLI. `emulation.registry.PROVISION_STEPS` lists them;
`runner` runs them, each as soon as the steps it depends on are done.

    core        streams, tables, buckets, queues, IAM roles, Lambda functions
    warehouse   secrets, database users, schema migrations
    api         REST API, stage, usage plan, API keys
    firehose    the delivery stream records
    glue        Data Catalog database and table, the warehouse connection, the job
    (template mode, `up --from cdk.out`: `emulation.registry.TEMPLATE_PROVISION_STEPS`, with the
    steps only a template needs in `emulation.cloudformation.steps`)
    runner      run the steps for `up` (side by side where they may), share boto3 clients

Known gaps vs AWS:
- The functions' code in moto is a placeholder zip (the runtime runs the repository's code); moto
  does not enforce the IAM policies; staging buckets get no lifecycle expiry locally; moto's own
  event-source mappings are deliberately not created (the runtime's pollers implement them).
- Firehose: moto requires Username/Password for a Redshift destination even with a secret; the
  loader's username is given and the password field holds a placeholder, never the real password
  (which lives only in Secrets Manager). The JDBC URL points at the local warehouse port.
- Glue: no IAM role is checked; the connection has no VPC settings (PhysicalConnectionRequirements)
  since the local warehouse is on 127.0.0.1.
- Warehouse: the users are PostgreSQL roles, not Redshift users (no IAM authentication); the
  superuser (not a Redshift superuser) runs CREATE ROLE; secrets are not rotated.
"""
