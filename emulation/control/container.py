"""Entry point of the runtime image in the Docker harness (`compose.yaml`, service `runtime`).

Where the embedded target starts moto and PostgreSQL itself, here both are given: AWS APIs at
`AWS_ENDPOINT_URL` (LocalStack), the warehouse as `WAREHOUSE_DSN` or `WAREHOUSE_HOST`/`_PORT`/
`_SUPERUSER`/`_SUPERUSER_PASSWORD_FILE` (the Postgres container, password from a Compose secret).
It provisions the same resource description with the same code as `make up`, then runs the
runtime's services in this process until SIGTERM.

Known gaps: in the package docstring (`emulation.control`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from emulation.config import CloudConfig, load_resources, parse_services
from emulation.naming import LocalNames
from emulation.registry import PIPELINE_RESOURCES

log = logging.getLogger("localcloud.container")


class ContainerConfigError(ValueError):
    """The container's environment does not describe a usable AWS endpoint or warehouse."""


def warehouse_dsn_from(env: dict[str, str]) -> str:
    if env.get("WAREHOUSE_DSN"):
        return env["WAREHOUSE_DSN"]
    host = env.get("WAREHOUSE_HOST")
    if not host:
        raise ContainerConfigError("set WAREHOUSE_DSN, or WAREHOUSE_HOST with its password file")
    password_file = env.get("WAREHOUSE_SUPERUSER_PASSWORD_FILE")
    if not password_file or not Path(password_file).is_file():
        raise ContainerConfigError(
            f"WAREHOUSE_SUPERUSER_PASSWORD_FILE {password_file!r} is not a readable file"
        )
    password = Path(password_file).read_text().strip()
    user = env.get("WAREHOUSE_SUPERUSER", "postgres")
    port = env.get("WAREHOUSE_PORT", "5432")
    database = env.get("WAREHOUSE_DATABASE", "ecommerce")
    return f"postgresql://{quote(user)}:{quote(password, safe='')}@{host}:{port}/{database}"


def config_from(env: dict[str, str], state_dir: Path) -> CloudConfig:
    endpoint = env.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise ContainerConfigError("AWS_ENDPOINT_URL must name the AWS endpoint (e.g. LocalStack)")
    return CloudConfig(
        state_dir=state_dir,
        host=env.get("LOCALCLOUD_BIND_HOST", "127.0.0.1"),
        api_port=int(env.get("LOCALCLOUD_API_PORT", 4567)),
        runtime_port=int(env.get("LOCALCLOUD_RUNTIME_PORT", 4568)),
        region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_endpoint_url=endpoint,
        warehouse_dsn=warehouse_dsn_from(env),
        resources=env.get("LOCALCLOUD_RESOURCES", PIPELINE_RESOURCES),
        services=parse_services(env.get("LOCALCLOUD_SERVICES")),
    )


def wait_for_endpoint(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the endpoint is up
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ContainerConfigError(f"AWS endpoint {url} did not answer: {exc}") from exc
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulation.control.container",
        description="Provision the resource description and run the local runtime against given endpoints.",
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="checkpoints, logs, API key")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for AWS_ENDPOINT_URL"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from(dict(os.environ), args.state_dir)
        wait_for_endpoint(config.aws_endpoint, args.wait)
    except ContainerConfigError as exc:
        print(f"emulation.control.container: {exc}", file=sys.stderr)
        return 2
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    config.save()

    from emulation.provision.runner import run_steps

    from .runtime import Runtime

    resources = load_resources(config.resources)
    run_steps(
        config,
        resources,
        LocalNames(resources, config.region),
        config.logs_dir / "provision.log",
        lambda line: log.info(line.strip()),
    )
    runtime = Runtime(config, set(config.services) if config.services is not None else None)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    runtime.start()
    log.info(
        "runtime ready: API on %s:%s, control on %s",
        config.host,
        config.api_port,
        config.runtime_url,
    )
    done.wait()
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
