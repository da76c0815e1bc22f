"""Provision step 'secrets' (template mode): each secret with the value CloudFormation would give it.

A `SecretString` is stored as given; a `GenerateSecretString` gets a password from Secrets Manager's
own `GetRandomPassword` with the template's rules (length, excluded characters, required types),
put under `GenerateStringKey` of the `SecretStringTemplate` document, as CloudFormation does. An
existing secret is kept, so a second `up` keeps every password. The warehouse step then adds the
local warehouse's host and port to the warehouse credentials (see emulation.provision.warehouse).
No value is printed or logged.
"""

from __future__ import annotations

import json

# GenerateSecretString properties that are GetRandomPassword parameters (same names).
PASSWORD_RULES = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def provision(config, resources, names) -> None:
    import boto3

    from emulation.provision.runner import step_client_kwargs

    client = boto3.client("secretsmanager", **step_client_kwargs(config))
    for secret in resources.secrets:
        try:
            client.describe_secret(SecretId=secret.name)
            continue
        except client.exceptions.ResourceNotFoundException:
            pass
        client.create_secret(
            Name=secret.name,
            Description=secret.description,
            SecretString=secret_value(client, secret),
        )


def secret_value(client, secret) -> str:
    if getattr(secret, "secret_string", None) is not None:
        return secret.secret_string
    spec = getattr(secret, "generate", None) or {}
    rules = {k: spec[k] for k in PASSWORD_RULES if k in spec}
    for rule, value in rules.items():  # the template may carry "true" / "32" as strings
        if rule == "PasswordLength":
            rules[rule] = int(value)
        elif rule != "ExcludeCharacters":
            rules[rule] = value in (True, "true")
    password = client.get_random_password(**rules)["RandomPassword"]
    key = spec.get("GenerateStringKey")
    if not key:
        return password
    document = json.loads(spec.get("SecretStringTemplate") or "{}")
    document[key] = password
    return json.dumps(document)
