"""A local cloud someone else started, reached only through the `make env` contract.

`make up STACK=compose` starts the Docker harness; its containers, volumes and logs belong to
Docker, not to this process. `attach("compose")` takes the variables `python -m emulation env
--stack compose` prints (AWS endpoint, dummy credentials, API URL and key, runtime control URL,
warehouse DSN), checks that each part answers, and returns an `AttachedCloud` offering the
handles `emulation.control.cloud.LocalCloud` gives a client: `config`, `client()`, `aws_endpoint`,
`runtime_url`, `api_url`, `api_key`, `warehouse_dsn`, `env()`, `resources`, `names`. The
integration tests use it for `--stack=compose`; `AttachedCloud(os.environ)` works in a shell where
`eval "$(make -s env STACK=compose)"` ran.

The harness's Glue Data Catalog (service `glue-catalog`, patched moto: LocalStack community has no
Glue API) has its own endpoint, `AWS_ENDPOINT_URL_GLUE`; `client("glue")` uses it when the
environment names one, the AWS endpoint otherwise. Credentials are always the dummy ones: a local
stack accepts any, and a wrong endpoint must never meet real ones. `log_path`, `warehouse_stop`
and `warehouse_start` say why they cannot.

Known gaps: in the package docstring (`emulation.control`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from emulation.config import DUMMY_CREDENTIALS, CloudConfig
from emulation.naming import DescribedCloud
from emulation.registry import PIPELINE_RESOURCES

from .supervisor import http_json, http_status

REAL_RESOURCES = PIPELINE_RESOURCES
# The variables `make env` prints; nothing else is kept (os.environ may be the source).
CONTRACT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_GLUE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "API_URL",
    "API_KEY",
    "WAREHOUSE_DSN",
    "LOCALCLOUD_RUNTIME_URL",
)
REQUIRED = ("AWS_ENDPOINT_URL", "API_URL")


class AttachError(RuntimeError):
    """The running stack cannot be used as it is: the message says what is missing and the fix."""


class AttachedCloud(DescribedCloud):
    """The handles of a running stack, from its `make env` variables (`values`)."""

    def __init__(
        self,
        values: Mapping[str, str],
        *,
        stack: str = "compose",
        resources: str = REAL_RESOURCES,
    ):
        missing = [key for key in REQUIRED if not values.get(key)]
        if missing:
            raise AttachError(
                f"the stack's environment has no {', '.join(missing)} "
                f"(`python -m emulation env --stack {stack}` prints them)"
            )
        self._values = {key: values[key] for key in CONTRACT if values.get(key)}
        self.stack = stack
        try:
            self.config = _config_of(self._values, resources)
        except ValueError as exc:  # urlsplit: a port that is not a number
            raise AttachError(f"the stack's environment holds a malformed URL: {exc}") from None

    # ------------------------------------------------------------------------------ handles
    @property
    def aws_endpoint(self) -> str:
        return self._values["AWS_ENDPOINT_URL"]

    @property
    def glue_endpoint(self) -> str:
        """The Glue API's endpoint: `AWS_ENDPOINT_URL_GLUE` if set, else the AWS endpoint."""
        return self._values.get("AWS_ENDPOINT_URL_GLUE") or self.aws_endpoint

    @property
    def runtime_url(self) -> str:
        url = self._values.get("LOCALCLOUD_RUNTIME_URL")
        if not url:
            raise AttachError("the stack's environment has no LOCALCLOUD_RUNTIME_URL")
        return url

    @property
    def api_url(self) -> str:
        """Base URL of the REST API's stage, as `API_URL` gives it."""
        return self._values["API_URL"]

    @property
    def api_key(self) -> str | None:
        return self._values.get("API_KEY")

    @property
    def warehouse_dsn(self) -> str:
        dsn = self._values.get("WAREHOUSE_DSN")
        if not dsn:
            raise AttachError(
                f"the stack's environment has no WAREHOUSE_DSN: `make up "
                f"STACK={self.stack}` writes the warehouse password it is built from"
            )
        return dsn

    def client(self, service: str, **kwargs):
        """A boto3 client on the stack's endpoint for `service` (Glue has its own, see
        `glue_endpoint`) with the dummy credentials."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.glue_endpoint if service == "glue" else self.aws_endpoint,
            region_name=self.config.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            **kwargs,
        )

    def env(self) -> dict[str, str]:
        """The contract's variables, as `python -m emulation env --stack <stack>` printed them."""
        return {**self.config.aws_env(), **self._values, **DUMMY_CREDENTIALS}

    # ------------------------------------------------------------------------------ gaps
    def log_path(self, part: str) -> Path:
        raise AttachError(
            f"the {self.stack} stack keeps its logs in its containers: docker compose logs {part}"
        )

    def warehouse_stop(self) -> bool:
        raise AttachError(f"the {self.stack} stack's warehouse is not this process's to stop")

    def warehouse_start(self) -> int:
        raise AttachError(f"the {self.stack} stack's warehouse is not this process's to start")

    # ------------------------------------------------------------------------------ checks
    def check(self) -> AttachedCloud:
        """Every part answers: AWS endpoint, the runtime's /health, an API key, the warehouse."""
        require_answer(self.aws_endpoint, self.stack)
        health = http_json(self.runtime_url + "/health", timeout=5.0)
        if not (health and health.get("ready")):
            raise AttachError(
                f"the runtime at {self.runtime_url} is not ready (GET /health: "
                f"{health or 'no answer'}); see `docker compose logs runtime`"
            )
        if not self.api_key:
            raise AttachError(
                f"the AWS API at {self.aws_endpoint} lists no enabled API key: "
                "provisioning has not finished; see `docker compose logs runtime`"
            )
        _require_warehouse(self.warehouse_dsn)
        return self


def require_answer(url: str, stack: str = "compose") -> None:
    """Any HTTP answer will do; a refused or silent port means the stack is not up."""
    if http_status(url.rstrip("/") + "/", timeout=2.0) is None:
        raise AttachError(f"nothing answers at {url}; run `make up STACK={stack}` first")


def attach(stack: str = "compose") -> AttachedCloud:
    """The running `make up STACK=<stack>` stack, checked; `AttachError` names what is missing."""
    if stack != "compose":
        raise ValueError(f"only the compose stack is attached to, not {stack!r}")
    from . import compose

    # Before env_vars(): it asks the AWS API for the key, which is pointless when nothing listens.
    require_answer(compose.aws_endpoint(), stack)
    return AttachedCloud(compose.env_vars(), stack=stack).check()


def _config_of(values: Mapping[str, str], resources: str) -> CloudConfig:
    """A CloudConfig whose ports and endpoints are the stack's (defaults where a URL has none).
    Its state folder is the compose driver's, which holds only the warehouse password: the
    stack's real state lives in Docker volumes."""
    from .compose import SECRET_DIR

    defaults = CloudConfig()
    aws = urlsplit(values["AWS_ENDPOINT_URL"])
    api = urlsplit(values["API_URL"])
    runtime = urlsplit(values.get("LOCALCLOUD_RUNTIME_URL", ""))
    warehouse = urlsplit(values.get("WAREHOUSE_DSN", ""))
    return CloudConfig(
        state_dir=SECRET_DIR,
        host=aws.hostname or defaults.host,
        aws_port=aws.port or defaults.aws_port,
        api_port=api.port or defaults.api_port,
        runtime_port=runtime.port or defaults.runtime_port,
        warehouse_port=warehouse.port or defaults.warehouse_port,
        region=values.get("AWS_DEFAULT_REGION") or values.get("AWS_REGION") or defaults.region,
        warehouse_dsn=values.get("WAREHOUSE_DSN") or None,
        aws_endpoint_url=values["AWS_ENDPOINT_URL"],
        resources=resources,
    )


def _require_warehouse(dsn: str) -> None:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        where = urlsplit(dsn)
        raise AttachError(
            f"the warehouse at {where.hostname}:{where.port} refuses connections: "
            f"{str(exc).strip()[:300]}"
        ) from None
