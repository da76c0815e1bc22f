"""Where the local cloud lives: its state folder, ports, credentials and endpoints.

One `CloudConfig` is written to `<state_dir>/cloud.json` by `emulation up` and read back by every
process of the local cloud (moto server, runtime, Lambda workers' parents) and by `emulation env`.
Tests build their own config on free ports in a temporary folder, so they never touch a cloud the
user started with `make up`.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emulation.registry import PIPELINE_RESOURCES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".localcloud"

# moto's default account; dummy credentials that can never reach a real account.
ACCOUNT_ID = "123456789012"
# The explicit setting for an external warehouse (not `WAREHOUSE_DSN`, which `make env` exports).
EXTERNAL_WAREHOUSE_VAR = "LOCALCLOUD_WAREHOUSE_DSN"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class CloudConfig:
    state_dir: Path = DEFAULT_STATE_DIR
    """Folder for pids, logs, checkpoints and the warehouse's data; survives `down`/`up`."""
    host: str = "127.0.0.1"
    aws_port: int = 4566
    """moto server: every AWS API (LocalStack's port, so `--endpoint-url` habits carry over)."""
    api_port: int = 4567
    """The API gateway serving the REST API's stage."""
    runtime_port: int = 4568
    """Runtime control plane: Lambda Invoke API, fault switches, mapping status."""
    warehouse_port: int = 4569
    """The embedded PostgreSQL's TCP port on `host` (unused when `warehouse_dsn` is set)."""
    region: str = "us-east-1"
    warehouse_dsn: str | None = None
    """An external PostgreSQL to use instead of the embedded one (`LOCALCLOUD_WAREHOUSE_DSN`).
    Never read from `WAREHOUSE_DSN`: `make env` exports that name for psql, and what `make env`
    prints must not change what the next `make up` in the same shell does."""
    aws_endpoint_url: str | None = None
    """An AWS endpoint the cloud does not run itself (the Docker harness's LocalStack)."""
    resources: str = PIPELINE_RESOURCES
    """`module:attribute` of the resource description to provision (tests pass their own), or
    `cloudformation:<cdk.out folder>` to provision a synthesized template (`up --from`)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[str] | None = None
    """Runtime services to start (`None` = all, `[]` = none); `LOCALCLOUD_SERVICES=a,b` or `none`."""
    durable: bool = True
    """moto keeps its state in `<state>/moto` across restarts and crashes (`LOCALCLOUD_DURABLE=0`:
    in memory only, lost at `down`; the benchmarks' baseline)."""

    @property
    def aws_endpoint(self) -> str:
        return self.aws_endpoint_url or f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def runtime_url(self) -> str:
        return f"http://{self.host}:{self.runtime_port}"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "cloud.json"

    @property
    def moto_state_dir(self) -> Path:
        return self.state_dir / "moto"

    def aws_env(self) -> dict[str, str]:
        """Environment that points boto3 / the AWS CLI at this local cloud."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        self.config_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir: Path | str | None = None) -> CloudConfig:
        state = Path(state_dir or os.environ.get("LOCALCLOUD_STATE_DIR") or DEFAULT_STATE_DIR)
        path = state / "cloud.json"
        if not path.exists():
            raise FileNotFoundError(
                f"no local cloud in {state}: run `make up` (or `python -m emulation up`) first"
            )
        data = json.loads(path.read_text())
        data["state_dir"] = Path(data["state_dir"])
        return cls(**data)

    @classmethod
    def from_environment(cls) -> CloudConfig:
        """Defaults overridable by `LOCALCLOUD_*` variables (never by what `make env` exports)."""
        env = os.environ
        return cls(
            state_dir=Path(env.get("LOCALCLOUD_STATE_DIR", DEFAULT_STATE_DIR)),
            aws_port=int(env.get("LOCALCLOUD_AWS_PORT", 4566)),
            api_port=int(env.get("LOCALCLOUD_API_PORT", 4567)),
            runtime_port=int(env.get("LOCALCLOUD_RUNTIME_PORT", 4568)),
            warehouse_port=int(env.get("LOCALCLOUD_WAREHOUSE_PORT", 4569)),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            warehouse_dsn=env.get(EXTERNAL_WAREHOUSE_VAR) or None,
            services=parse_services(env.get("LOCALCLOUD_SERVICES")),
            durable=env.get("LOCALCLOUD_DURABLE", "1").strip().lower()
            not in ("0", "false", "no", "off"),
        )

    @classmethod
    def on_free_ports(cls, state_dir: Path, **overrides) -> CloudConfig:
        """A config for tests: every port picked free by the kernel."""
        ports = free_ports(4)
        return cls(
            state_dir=Path(state_dir),
            aws_port=ports[0],
            api_port=ports[1],
            runtime_port=ports[2],
            warehouse_port=ports[3],
            **overrides,
        )


def parse_services(text: str | None) -> list[str] | None:
    """`LOCALCLOUD_SERVICES`: unset/blank = all services, `none` = no service, else a comma list."""
    if text is None or not text.strip():
        return None
    if text.strip().lower() == "none":
        return []
    return [name.strip() for name in text.split(",") if name.strip()]


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def load_resources(spec: str):
    """Import a resource description given as `module:attribute`, or translate the template of
    `cloudformation:<cdk.out folder>` (template mode, `up --from`)."""
    import pkgutil

    if spec.startswith("cloudformation:"):
        from emulation.cloudformation.translate import describe

        return describe(spec.removeprefix("cloudformation:"))
    if ":" not in spec:
        raise ValueError(f"resources spec {spec!r} must look like 'module:attribute'")
    return pkgutil.resolve_name(spec)
