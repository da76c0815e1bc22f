"""`python -m emulation up|down|status|env|warehouse` as a user runs them: real processes, real ports.

One cloud per module in a temporary state folder on free ports, driven only through the CLI in
subprocesses (the `make` targets call exactly these commands). Runtime services: those whose
module exists in this checkout, unless LOCALCLOUD_SERVICES says otherwise (see `SERVICES`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

from emulation.config import REPO_ROOT, CloudConfig, free_ports
from emulation.registry import SERVICES as RUNTIME_SERVICES

pytestmark = pytest.mark.embedded_only(
    reason=(
        "drives `python -m emulation up/down/warehouse` of the embedded cloud in a private state "
        "folder, and stops and starts its warehouse"
    )
)


def _available_services() -> str:
    if os.environ.get("LOCALCLOUD_SERVICES"):
        return os.environ["LOCALCLOUD_SERVICES"]
    present = [
        name for name, spec in RUNTIME_SERVICES if importlib.util.find_spec(spec.split(":")[0])
    ]
    return ",".join(present) or "none"


SERVICES = _available_services()


class Cli:
    """Runs `python -m emulation ...` with a private state folder and private ports."""

    def __init__(self, state_dir: Path, **extra_env: str):
        ports = free_ports(4)
        self.state_dir = state_dir
        self.env = {
            **os.environ,
            "LOCALCLOUD_STATE_DIR": str(state_dir),
            "LOCALCLOUD_AWS_PORT": str(ports[0]),
            "LOCALCLOUD_API_PORT": str(ports[1]),
            "LOCALCLOUD_RUNTIME_PORT": str(ports[2]),
            "LOCALCLOUD_WAREHOUSE_PORT": str(ports[3]),
            "LOCALCLOUD_SERVICES": SERVICES,
            **extra_env,
        }
        for name in ("WAREHOUSE_DSN", "LOCALCLOUD_WAREHOUSE_DSN", "LOCALCLOUD_DURABLE"):
            if name not in extra_env:
                self.env.pop(name, None)
        self.ports = ports

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "emulation", *args],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"`emulation {' '.join(args)}` exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")  # fmt: skip
        return result

    def pids(self) -> dict:
        path = self.state_dir / "pids.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def config(self) -> CloudConfig:
        return CloudConfig.load(self.state_dir)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("lifecycle") / "state")
    up = cli("up")
    cli.first_up = up
    try:
        yield cli
    finally:
        cli("down", check=False)
        from emulation.control.cloud import LocalCloud

        LocalCloud(cli.config()).destroy()


def test_up_reports_each_part_ready_and_status_agrees(cli):
    out = cli.first_up.stdout
    for part in ("moto", "warehouse", "runtime"):
        assert f"{part}" in out and "ready" in out
    assert "local cloud ready in" in out
    status = cli("status", "--json")
    parts = {p["name"]: p for p in json.loads(status.stdout)}
    assert set(parts) == {"moto", "warehouse", "runtime"}
    for name, recorded in cli.pids().items():
        assert (
            parts[name]["pid"] == recorded["pid"]
            and parts[name]["running"]
            and parts[name]["answering"]
        )
    assert parts["moto"]["port"] == cli.ports[0] and parts["warehouse"]["port"] == cli.ports[3]


def test_up_twice_is_a_no_op(cli):
    before = cli.pids()
    again = cli("up")
    assert "already running" in again.stdout
    assert cli.pids() == before


def test_env_evals_in_a_shell_and_boto3_reaches_the_cloud(cli):
    env_out = cli("env").stdout
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{cli.ports[0]}" in env_out
    assert f"export API_URL=http://127.0.0.1:{cli.ports[1]}/v1" in env_out
    script = (
        f'eval "$({sys.executable} -m emulation env)" && {sys.executable} -c "'
        "import boto3, os, psycopg; "
        "print(boto3.client('kinesis').list_streams()['StreamNames']); "
        "print(sorted(f['FunctionName'] for f in boto3.client('lambda').list_functions()['Functions'])); "
        "print(psycopg.connect(os.environ['WAREHOUSE_DSN']).execute('select current_database()').fetchone()[0])\""
    )
    clean_env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")}
    result = subprocess.run(["bash", "-c", script], env=clean_env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    streams, functions, database = result.stdout.strip().splitlines()
    assert streams == "['sales-events']"
    assert functions == str(["sales-archiver", "sales-ingest", "sales-projector", "sales-query"])
    assert database == "ecommerce"


def test_warehouse_json_holds_the_dsn_privately(cli):
    info = cli.state_dir / "warehouse.json"
    assert oct(info.stat().st_mode & 0o777) == "0o600"
    assert json.loads(info.read_text())["dsn"].startswith("postgresql://postgres:")


def test_warehouse_stop_and_start_keep_the_data(cli):
    dsn = cli("warehouse", "dsn").stdout.strip()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lifecycle_probe (n int)")
        conn.execute("INSERT INTO lifecycle_probe VALUES (7)")
    assert "warehouse stopped" in cli("warehouse", "stop").stdout
    assert cli("warehouse", "status", check=False).returncode == 1
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    assert "warehouse running" in cli("warehouse", "start").stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT sum(n) FROM lifecycle_probe").fetchone()[0] >= 7


def test_an_external_warehouse_dsn_starts_no_postgres(cli, tmp_path):
    external_dsn = cli("warehouse", "dsn").stdout.strip()
    other = Cli(tmp_path / "state", LOCALCLOUD_WAREHOUSE_DSN=external_dsn)
    try:
        out = other("up").stdout
        assert "external (LOCALCLOUD_WAREHOUSE_DSN)" in out
        assert "warehouse" not in other.pids()
        assert f"export WAREHOUSE_DSN={external_dsn}" in other("env").stdout
        assert not (tmp_path / "state" / "warehouse").exists()
        parts = {p["name"]: p for p in json.loads(other("status", "--json").stdout)}
        assert parts["warehouse"]["detail"] == "external (LOCALCLOUD_WAREHOUSE_DSN)"
    finally:
        other("down", check=False)


def test_up_in_the_shell_make_env_sets_up_runs_the_embedded_warehouse(cli):
    """README: `eval "$(make -s env)"` exports WAREHOUSE_DSN (for psql). What `make env` prints must
    never change what `make up` does: a later down/up in that shell keeps the embedded PostgreSQL."""
    script = (f'eval "$({sys.executable} -m emulation env)" && test -n "$WAREHOUSE_DSN" && '
              f"{sys.executable} -m emulation down && {sys.executable} -m emulation up && "
              f"{sys.executable} -m emulation status --json")  # fmt: skip
    result = subprocess.run(["bash", "-c", script], env=cli.env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=240, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "external" not in result.stdout
    status = json.loads(result.stdout[result.stdout.index("[") :])
    warehouse = next(p for p in status if p["name"] == "warehouse")
    assert warehouse["detail"] == f"embedded 127.0.0.1:{cli.ports[3]}"
    assert warehouse["running"] and warehouse["answering"]
    assert psutil.Process(cli.pids()["warehouse"]["pid"]).name() == "postgres"


def test_a_taken_port_names_the_port_its_owner_and_the_log(tmp_path):
    blocked = Cli(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", blocked.ports[0]))
        squatter.listen()
        result = blocked("up", check=False)
    assert result.returncode == 1
    assert (
        f"port {blocked.ports[0]} (aws_port) is already in use by pid {os.getpid()}"
        in result.stderr
    )
    assert str(tmp_path / "state" / "logs" / "moto.log") in result.stderr
    assert blocked.pids() == {}  # nothing was left running


def test_down_stops_exactly_the_recorded_pids_and_then_warehouse_data_survives_up(cli):
    dsn = cli("warehouse", "dsn").stdout.strip()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survives_down (n int)")
        conn.execute("INSERT INTO survives_down VALUES (42)")
    recorded = {name: part["pid"] for name, part in cli.pids().items()}
    families = {
        pid: [p.pid for p in psutil.Process(pid).children(recursive=True)]
        for pid in recorded.values()
    }
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)  # must survive `down`
    try:
        assert "stopped:" in cli("down").stdout
        for pid in [*recorded.values(), *(c for kids in families.values() for c in kids)]:
            assert not _running(pid), f"pid {pid} still runs after down"
        assert bystander.poll() is None
        assert cli.pids() == {}
        assert cli("status", check=False).returncode == 1
        assert "nothing was running" in cli("down").stdout

        cli("up")
        with psycopg.connect(cli("warehouse", "dsn").stdout.strip()) as conn:
            assert conn.execute("SELECT n FROM survives_down").fetchall() == [(42,)]
    finally:
        bystander.send_signal(signal.SIGTERM)
        bystander.wait()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_compose_stack_without_docker_is_refused_clearly(tmp_path):
    # A PATH without docker, so the test means the same on a machine that has Docker.
    result = Cli(tmp_path / "state", PATH=str(Path(sys.executable).parent))(
        "up", "--stack", "compose", check=False
    )
    assert result.returncode == 2
    assert "STACK=compose needs" in result.stderr and "STACK=embedded" in result.stderr


def test_cloud_factory_shares_a_cloud_and_its_handles_reach_every_part(cloud_factory):
    cloud = cloud_factory(services=[])
    assert cloud_factory(services=[]) is cloud  # same arguments: the running cloud is reused
    assert cloud.client("kinesis").list_streams()["StreamNames"] == ["sales-events"]
    assert cloud.client("s3").head_bucket(Bucket=cloud.names.bucket("raw-archive"))
    with psycopg.connect(cloud.warehouse_dsn) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == "ecommerce"
    with urllib.request.urlopen(cloud.runtime_url + "/health", timeout=5) as resp:
        assert json.loads(resp.read())["ready"] is True
    assert cloud.api_url == f"http://127.0.0.1:{cloud.config.api_port}/v1"
    assert cloud.env()["AWS_ENDPOINT_URL"] == cloud.aws_endpoint


# ------------------------------------------------------------------------------- crashes, restarts
def _kill(cli, part: str) -> int:
    pid = cli.pids()[part]["pid"]
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(pid)], timeout=10) if _running(pid) else None
    return pid


def _aws(cli, service: str):
    import boto3

    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{cli.ports[0]}",
                        region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


PROBE = "crash-probe"
"""A stream created with the AWS API, as a user would: no consumer reads it (the pipeline's own
stream would hand these records to its mappings)."""


def _probe_stream(cli):
    kinesis = _aws(cli, "kinesis")
    if PROBE not in kinesis.list_streams()["StreamNames"]:
        kinesis.create_stream(StreamName=PROBE, ShardCount=2)
    return kinesis


def _stream_records(cli) -> dict[str, list[tuple[str, float, bytes]]]:
    """shard -> [(sequence number, arrival time, data)] of every record of the probe stream."""
    kinesis = _probe_stream(cli)
    found = {}
    for shard in kinesis.list_shards(StreamName=PROBE)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=PROBE, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
        page = kinesis.get_records(ShardIterator=iterator, Limit=10000)["Records"]
        found[shard["ShardId"]] = [(r["SequenceNumber"], r["ApproximateArrivalTimestamp"].timestamp(),
                                    r["Data"]) for r in page]  # fmt: skip
    return found


def test_a_killed_runtime_is_restarted_alone(cli):
    before = cli.pids()
    _probe_stream(cli).put_record(StreamName=PROBE, Data=b"before the crash", PartitionKey="k")
    records = _stream_records(cli)
    _kill(cli, "runtime")
    status = cli("status", check=False)
    up = cli("up")
    after = cli.pids()
    assert {p: after[p]["pid"] for p in ("moto", "warehouse")} == {
        p: before[p]["pid"] for p in ("moto", "warehouse")}  # fmt: skip
    assert _stream_records(cli) == records  # moto kept running: nothing was wiped
    assert after["runtime"]["pid"] != before["runtime"]["pid"]
    assert cli("status").returncode == 0
    assert status.returncode == 1
    assert "runtime is down: `make up` restarts it alone (moto and warehouse keep running" in status.stdout
    assert "runtime not running: starting it alone (moto and warehouse keep running" in up.stdout


def test_a_killed_moto_is_restarted_alone_with_everything_it_acknowledged(cli):
    kinesis, dynamodb, s3, sqs = (_aws(cli, s) for s in ("kinesis", "dynamodb", "s3", "sqs"))
    _probe_stream(cli).put_records(StreamName=PROBE, Records=[
        {"Data": f"record {i}".encode(), "PartitionKey": f"key {i}"} for i in range(50)])
    key = {"customer_id": {"S": "crash-probe"}, "invoice_no": {"S": "1"}}  # one item per (customer, invoice)
    dynamodb.put_item(TableName="customer", Item={**key, "revision": {"S": "1"}, "bin": {"B": b"\x00\xff"}})
    dynamodb.update_item(TableName="customer", Key=key,
                         UpdateExpression="SET revenue = :r", ExpressionAttributeValues={":r": {"N": "12.50"}})
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "raw-archive" in b["Name"])
    s3.put_object(Bucket=bucket, Key="crash/probe.txt", Body=b"kept", Metadata={"who": "test"})
    queue = sqs.create_queue(QueueName="crash-probe")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="kept too")
    records = _stream_records(cli)
    created = kinesis.describe_stream_summary(StreamName=PROBE)["StreamDescriptionSummary"][
        "StreamCreationTimestamp"]
    before = cli.pids()

    _kill(cli, "moto")
    status = cli("status", check=False).stdout
    up = cli("up")
    after = cli.pids()

    assert _stream_records(cli) == records  # same sequence numbers, arrival times and data
    assert kinesis.describe_stream_summary(StreamName=PROBE)["StreamDescriptionSummary"][
        "StreamCreationTimestamp"] == created  # consumers' checkpoints name the stream by it
    item = dynamodb.get_item(TableName="customer", Key=key)["Item"]
    assert item == {**key, "revision": {"S": "1"}, "bin": {"B": b"\x00\xff"}, "revenue": {"N": "12.50"}}
    body = s3.get_object(Bucket=bucket, Key="crash/probe.txt")
    assert body["Body"].read() == b"kept" and body["Metadata"] == {"who": "test"}
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                   WaitTimeSeconds=1).get("Messages", [])] == ["kept too"]
    new = kinesis.put_record(StreamName=PROBE, Data=b"after", PartitionKey="key 0")
    shard_records = records[new["ShardId"]]
    assert int(new["SequenceNumber"]) == int(shard_records[-1][0]) + 1  # numbering continues
    assert after["moto"]["pid"] != before["moto"]["pid"]
    assert after["runtime"]["pid"] == before["runtime"]["pid"]
    assert "moto is down" in status
    assert "moto not running: starting it alone" in up.stdout
    assert "moto       restored" in up.stdout and "Kinesis records" in up.stdout


def test_down_and_up_keep_the_aws_side_state(cli):
    kinesis, dynamodb, secrets = _probe_stream(cli), _aws(cli, "dynamodb"), _aws(cli, "secretsmanager")
    kinesis.put_record(StreamName=PROBE, Data=b"across down/up", PartitionKey="k")
    records = _stream_records(cli)
    items = dynamodb.scan(TableName="customer", ConsistentRead=True)["Items"]
    secret_names = sorted(s["Name"] for s in secrets.list_secrets()["SecretList"])
    values = {n: secrets.get_secret_value(SecretId=n)["SecretString"] for n in secret_names}
    api_key = (cli.state_dir / "api_key").read_text()
    apigw = _aws(cli, "apigateway")
    keys = {k["name"]: (k["id"], k["value"]) for k in apigw.get_api_keys(includeValues=True)["items"]}
    s3 = _aws(cli, "s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "raw-archive" in b["Name"])
    s3.put_object(Bucket=bucket, Key="downup/probe.txt", Body=b"still here")
    buckets = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    sqs, glue = _aws(cli, "sqs"), _aws(cli, "glue")
    queue = sqs.get_queue_url(QueueName="sales-archiver-failures")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="kept across down/up")
    catalog = {(t["DatabaseName"], t["Name"]): t["CreateTime"]
               for d in glue.get_databases()["DatabaseList"]
               for t in glue.get_tables(DatabaseName=d["Name"])["TableList"]}
    assert catalog  # provisioning registered the archive's table
    # The domain's tables as the handlers write them: a conditional claim (and a refused one) in
    # event_claim, an invoice spread over pages (sort key `page`), one page then deleted.
    claim = {"TableName": "event_claim", "Key": {"id_block": {"S": "downup:0"}},
             "UpdateExpression": "SET digests = :d, version = :v",
             "ConditionExpression": "attribute_not_exists(version)",
             "ExpressionAttributeValues": {":d": {"S": "0123456789ab" * 3}, ":v": {"N": "1"}}}
    dynamodb.update_item(**claim)
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.update_item(**{**claim, "ExpressionAttributeValues": {":d": {"S": "x"}, ":v": {"N": "2"}}})
    pages = [{"invoice_no": {"S": "downup-1"}, "page": {"S": f"{n:04d}"}, "lines": {"L": [{"S": f"line {n}"}]}}
             for n in range(3)]
    dynamodb.batch_write_item(RequestItems={"invoice": [{"PutRequest": {"Item": p}} for p in pages]})
    dynamodb.batch_write_item(RequestItems={"invoice": [{"DeleteRequest": {"Key": {
        "invoice_no": {"S": "downup-1"}, "page": {"S": "0002"}}}}]})
    dynamodb.update_item(TableName="invoice", Key={"invoice_no": {"S": "downup-1"}, "page": {"S": "0000"}},
                         UpdateExpression="SET spill_mark = :n", ExpressionAttributeValues={":n": {"N": "2"}})
    tables = {name: sorted(map(str, dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]))
              for name in dynamodb.list_tables()["TableNames"]}
    assert {"event_claim", "invoice", "customer"} <= set(tables) and len(tables["invoice"]) >= 2

    cli("down")
    up = cli("up")  # provisions again: creating the buckets that exist must leave them as they are

    assert _stream_records(cli) == records
    assert sorted(dynamodb.scan(TableName="customer", ConsistentRead=True)["Items"],
                  key=str) == sorted(items, key=str)  # fmt: skip
    assert {name: sorted(map(str, dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]))
            for name in dynamodb.list_tables()["TableNames"]} == tables
    assert {n: secrets.get_secret_value(SecretId=n)["SecretString"] for n in secret_names} == values
    assert {k["name"]: (k["id"], k["value"]) for k in apigw.get_api_keys(includeValues=True)["items"]} == keys
    assert (cli.state_dir / "api_key").read_text() == api_key
    assert {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]} == buckets
    assert s3.get_object(Bucket=bucket, Key="downup/probe.txt")["Body"].read() == b"still here"
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", [])]
    assert "kept across down/up" in bodies
    assert {(t["DatabaseName"], t["Name"]): t["CreateTime"]
            for d in glue.get_databases()["DatabaseList"]
            for t in glue.get_tables(DatabaseName=d["Name"])["TableList"]} == catalog
    assert "Kinesis records" in up.stdout  # `up` says what moto restored
