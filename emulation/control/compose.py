"""`STACK=compose`: drive the Docker harness in `compose.yaml` with the same `up`/`down`/`status`/
`env` contract as the embedded cloud.

`up` writes the warehouse superuser's password to `.localcloud/compose/` (mode 600, git-ignored;
compose passes it to the containers as a secret), then `docker compose up --detach --wait --build`.
The runtime container provisions the same resource description with the same code as the
embedded target (`emulation.control.container`). `env` prints the same variables as the embedded target,
reading the API key from the AWS API (`apigateway get-api-keys`), as a user would on AWS, plus
`AWS_ENDPOINT_URL_GLUE` (the `glue-catalog` service on `GLUE_PORT`: LocalStack community has no
Glue API; boto3 and the AWS CLI pick the variable up for Glue calls by themselves).

The integration tests attach to a running harness through `env_vars()` (`pytest --stack=compose`,
`emulation.control.attached`); they start nothing.

Known gaps: in the package docstring (`emulation.control`).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
import sys

from emulation.config import DUMMY_CREDENTIALS, REPO_ROOT, CloudConfig

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
SECRET_DIR = REPO_ROOT / ".localcloud" / "compose"
SUPERUSER_PASSWORD = SECRET_DIR / "warehouse_superuser_password"
GLUE_PORT = 4570
"""Where compose.yaml publishes `glue-catalog` (patched moto: the Glue API LocalStack community
lacks). The embedded target needs no such port: its moto serves Glue on the AWS port."""


class ComposeUnavailable(RuntimeError):
    """No Docker engine or Compose plugin on this machine."""


def compose_command() -> list[str]:
    if not shutil.which("docker"):
        raise ComposeUnavailable(
            "STACK=compose needs Docker (docker CLI not found); the default STACK=embedded needs none"
        )
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ComposeUnavailable(
            "STACK=compose needs the Docker Compose plugin (`docker compose version` failed: "
            f"{(probe.stderr or probe.stdout).strip()[:200]}); use STACK=embedded"
        )
    engine = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True
    )
    if engine.returncode != 0:
        raise ComposeUnavailable(
            "STACK=compose needs a running Docker engine (`docker info` failed); use STACK=embedded"
        )
    return ["docker", "compose", "--file", str(COMPOSE_FILE)]


def ensure_secret() -> None:
    """Generate the superuser password once; it never appears in compose.yaml, logs or git."""
    SECRET_DIR.mkdir(parents=True, exist_ok=True)
    if not SUPERUSER_PASSWORD.exists():
        SUPERUSER_PASSWORD.write_text(secrets.token_urlsafe(24))
    SUPERUSER_PASSWORD.chmod(0o600)


def _run(args: list[str]) -> int:
    return subprocess.run(compose_command() + args).returncode


def up() -> int:
    ensure_secret()
    return _run(["up", "--detach", "--wait", "--build"])


def down() -> int:
    return _run(["down"])


def status() -> int:
    return _run(["ps"])


def aws_endpoint() -> str:
    """Where compose.yaml publishes LocalStack: the embedded target's AWS port."""
    return f"http://127.0.0.1:{CloudConfig().aws_port}"


def glue_endpoint() -> str:
    """Where compose.yaml publishes the Glue Data Catalog (boto3 honours `AWS_ENDPOINT_URL_GLUE`)."""
    return f"http://127.0.0.1:{GLUE_PORT}"


def env_vars() -> dict[str, str]:
    defaults = CloudConfig()
    region = "us-east-1"
    values = {
        "AWS_ENDPOINT_URL": aws_endpoint(),
        "AWS_ENDPOINT_URL_GLUE": glue_endpoint(),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **DUMMY_CREDENTIALS,
        "API_URL": f"http://127.0.0.1:{defaults.api_port}/" + _stage(),
        "LOCALCLOUD_RUNTIME_URL": f"http://127.0.0.1:{defaults.runtime_port}",
        "CONSOLE_URL": f"http://127.0.0.1:{defaults.runtime_port}/console/",
    }
    if SUPERUSER_PASSWORD.exists():
        password = SUPERUSER_PASSWORD.read_text().strip()
        values["WAREHOUSE_DSN"] = (
            f"postgresql://postgres:{password}@127.0.0.1:{defaults.warehouse_port}/ecommerce"
        )
    key = _api_key(values["AWS_ENDPOINT_URL"], region)
    if key:
        values["API_KEY"] = key
    return values


def _stage() -> str:
    from pipeline.resources import PIPELINE

    return PIPELINE.api.stage


def _api_key(endpoint: str, region: str) -> str | None:
    import boto3
    from botocore.config import Config

    # A harness that refuses the connection is down: answer at once, not after retries.
    quick = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})
    client = boto3.client(
        "apigateway",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=quick,
    )
    try:
        items = client.get_api_keys(includeValues=True)["items"]
    except Exception:  # noqa: BLE001 - the harness is not up: env still prints what it knows
        return None
    return next((k["value"] for k in items if k.get("enabled")), None)


def main(action: str) -> int:
    try:
        if action == "env":
            for key, value in env_vars().items():
                print(f"export {key}={shlex.quote(value)}")
            return 0
        return {"up": up, "down": down, "status": status}[action]()
    except ComposeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
