"""Throwaway servers for tests and benchmarks: a private PostgreSQL 16 and a moto server.

`ScratchPostgres` runs pgserver's bundled PostgreSQL in its own /tmp folder and can be stopped
and started again on the same data folder (the Firehose tests take the warehouse away that way);
`ScratchMoto` serves moto (stock, unpatched) on a free 127.0.0.1 port. Both are deleted/stopped
by `close()`. Not part of the local cloud itself: `emulation.redshift.server` and `emulation.moto.server`
run those.

Known gaps: in the package docstring (`emulation.control`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import psycopg


class ScratchPostgres:
    """A private PostgreSQL in its own /tmp folder (PostgreSQL's unprivileged user must reach it,
    which pytest's 0700 tmp folders do not allow when running as root); deleted by close()."""

    def __init__(self, root: Path | None = None):
        import pgserver
        from pgserver.utils import find_suitable_socket_dir

        self.root = Path(tempfile.mkdtemp(prefix="scratchpg-"))
        self.root.chmod(0o755)
        self.pgdata = self.root / "pg"
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self.socket_dir = find_suitable_socket_dir(self.pgdata, self.server.runtime_path)
        self.superuser_dsn = self.server.get_uri()

    def dsn(
        self, user: str = "postgres", password: str | None = None, dbname: str = "postgres"
    ) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=str(self.socket_dir), dbname=dbname, user=user, password=password)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # set at import by pgserver

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(self.superuser_dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already stopped, or never started
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class ScratchMoto:
    """A stock moto server on a free port (thread in this process)."""

    def __init__(self):
        import logging

        from moto.server import ThreadedMotoServer

        from emulation.config import free_ports

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        self.port = free_ports(1)[0]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def close(self) -> None:
        self.server.stop()
