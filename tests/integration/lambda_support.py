"""The local cloud the Lambda runtime and mapping tests share: `cloud_factory` (conftest) starts the
patched moto server, provisions `test_resources_lambda:RESOURCES` and runs the runtime's `lambda` +
`mappings` services as real processes on free ports; `LambdaCloud` adds what these tests read back.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

from emulation.config import REPO_ROOT

RESOURCES_SPEC = "tests.integration.test_resources_lambda:RESOURCES"


@dataclass
class Invocation:
    """One call of the Lambda Invoke API, read the way a user reads it (payload, error, log tail)."""

    payload: object
    error: dict | None
    request_id: str
    log: str
    """This invocation's log lines (`LogType=Tail`): START .. REPORT."""

    @property
    def report(self) -> str:
        return next((line for line in self.log.splitlines() if line.startswith("REPORT ")), "")

    @property
    def cold_start(self) -> bool:
        return "Init Duration" in self.report  # how CloudWatch shows a cold start

    @property
    def duration_ms(self) -> float:
        match = re.search(r"\tDuration: ([0-9.]+) ms", self.report)
        return float(match.group(1)) if match else -1.0


class LambdaCloud:
    """Helpers over a `LocalCloud` (from A's `cloud_factory`) running the test description with the
    runtime's `lambda` and `mappings` services."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.config = cloud.config
        self.resources = cloud.resources
        self.names = cloud.names
        self._clients: dict[str, object] = {}

    def restart_runtime(self, kill: bool = False, between=None) -> None:
        """Stop the runtime process (SIGKILL with `kill`: no chance to clean up), run `between()`,
        start a new runtime on the same state folder and wait for its /health."""
        from emulation.control.supervisor import PidFile, http_status, spawn, stop_part

        pids = PidFile(self.config.state_dir)
        record = pids.read()["runtime"]
        assert stop_part(record, sig=signal.SIGKILL if kill else signal.SIGTERM)
        pids.remove("runtime")
        if between is not None:
            between()
        env = {
            **os.environ,
            **self.config.aws_env(),
            "PYTHONPATH": str(REPO_ROOT),
            "LOCALCLOUD_STATE_DIR": str(self.config.state_dir),
        }
        proc, new = spawn(
            "runtime",
            record.command,
            self.cloud.log_path("runtime"),
            env=env,
            cwd=REPO_ROOT,
            port=self.config.runtime_port,
        )
        pids.add(new)
        deadline = time.monotonic() + 60
        while http_status(self.config.runtime_url + "/health") != 200:
            assert proc.poll() is None, (
                f"runtime exited on restart; see {self.cloud.log_path('runtime')}"
            )
            assert time.monotonic() < deadline, "runtime did not answer /health after a restart"
            time.sleep(0.1)

    # -- helpers ----------------------------------------------------------------------------------
    def client(self, service: str, endpoint: str | None = None):
        key = f"{service}@{endpoint}"
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,
                endpoint_url=endpoint or self.config.aws_endpoint,
                region_name=self.config.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 2}, read_timeout=120),
            )
        return self._clients[key]

    def invoke(self, function: str, event) -> Invocation:
        lam = self.client("lambda", endpoint=self.config.runtime_url)
        reply = lam.invoke(
            FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail"
        )
        body = json.loads(reply["Payload"].read() or b"null")
        error = body if reply.get("FunctionError") else None
        return Invocation(
            None if error else body,
            error,
            reply["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"],
            base64.b64decode(reply.get("LogResult", "")).decode(),
        )

    def functions(self) -> dict:
        status, body = self.control("GET", "/functions")
        assert status == 200
        return body

    def put(
        self, stream: str, datas: list[str], partition_key=lambda i, d: str(i)
    ) -> list[tuple[str, str]]:
        """Put records in order (PutRecords, 500 at a time); returns (shard, sequence) per record."""
        out = []
        kinesis = self.client("kinesis")
        for start in range(0, len(datas), 500):
            chunk = datas[start : start + 500]
            reply = kinesis.put_records(
                StreamName=stream,
                Records=[
                    {"Data": d.encode(), "PartitionKey": partition_key(start + i, d)}
                    for i, d in enumerate(chunk)
                ],
            )
            assert reply["FailedRecordCount"] == 0
            out += [(r["ShardId"], r["SequenceNumber"]) for r in reply["Records"]]
        return out

    def control(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.config.runtime_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def mapping(self, function: str) -> dict:
        status, body = self.control("GET", "/mappings")
        assert status == 200
        return next(m for m in body["mappings"] if m["function"] == function)

    def wait_caught_up(
        self, function: str, since: float | None = None, timeout: float = 60
    ) -> dict:
        """Poll GET /mappings until the mapping has handled every record written before `since`."""
        since = time.time() if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            m = self.mapping(function)
            if (m["caught_up_at"] or 0) >= since:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"mapping of {function} did not catch up: {json.dumps(m, indent=1)}"
                )
            time.sleep(0.1)

    def batches(self, function: str) -> list[dict]:
        """What the recorder handler stored for `function`, in invocation order."""
        table = boto3.resource(
            "dynamodb",
            endpoint_url=self.config.aws_endpoint,
            region_name=self.config.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).Table("lambda-test-batches")
        items, kwargs = [], {}
        while True:
            page = table.scan(**kwargs)
            items += [i for i in page["Items"] if i["function"] == function]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda i: float(i["at"]))

    def log_text(self, function: str) -> str:
        return (self.config.logs_dir / "lambda" / f"{function}.log").read_text()


@pytest.fixture(scope="module")
def lambda_cloud(cloud_factory):
    return LambdaCloud(cloud_factory(RESOURCES_SPEC, ["lambda", "mappings"]))
