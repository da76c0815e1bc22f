"""What real AWS clients see of the local cloud: the AWS CLI (from the venv, a subprocess) against the
moto endpoint of a real local cloud running the real description.

- `aws lambda list-event-source-mappings` / `get-event-source-mapping`: the two Kinesis mappings the
  runtime runs, with the description's settings (they used to answer `[]`).
- `aws logs describe-log-streams` / `filter-log-events`: each function's lines (START / END /
  REPORT and the handler's own) in `/aws/lambda/<name>`, a stream per execution environment, and
  the same lines still in the log file (they used to be in the file only).
- `aws redshift-serverless list-workgroups` / `get-namespace`: the local warehouse's workgroup and
  namespace, whose endpoint a client can connect to (they used to be a 500 HTML page).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.embedded_only(
    reason="mappings, function logs and Redshift Serverless are answered by the patched moto server "
    "and the embedded runtime; LocalStack answers these calls its own way"
)

BIN = Path(sys.executable).parent
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def aws(cloud, *args: str, check: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(cloud.env(), AWS_PAGER="")
    done = subprocess.run([str(BIN / "aws"), *args, "--output", "json"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
    return done


# ---------------------------------------------------------------------- event-source mappings
def test_list_event_source_mappings_shows_the_mappings_that_run(local_cloud):
    listed = aws(local_cloud, "lambda", "list-event-source-mappings")["EventSourceMappings"]
    names = local_cloud.names
    by_function = {m["FunctionArn"]: m for m in listed}
    specs = local_cloud.resources.event_source_mappings
    assert len(listed) == len(specs) == 2
    for spec in specs:
        m = by_function[names.function_arn(spec.function)]
        assert m["EventSourceArn"] == names.stream_arn(spec.stream)
        assert m["State"] == "Enabled"
        assert m["BatchSize"] == spec.batch_size
        assert m["MaximumBatchingWindowInSeconds"] == spec.maximum_batching_window_s
        assert m["StartingPosition"] == spec.starting_position
        assert m["BisectBatchOnFunctionError"] is spec.bisect_batch_on_function_error
        assert m["MaximumRetryAttempts"] == spec.maximum_retry_attempts
        assert m["MaximumRecordAgeInSeconds"] == spec.maximum_record_age_s
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert m["DestinationConfig"] == {"OnFailure": {"Destination": names.queue_arn(spec.on_failure_queue)}}
        assert m["LastProcessingResult"] in ("OK", "No records processed")
        # The mapping the runtime reports on its control port is the same one.
        got = aws(local_cloud, "lambda", "get-event-source-mapping", "--uuid", m["UUID"])
        assert got == m


def test_mappings_filter_by_function_name_or_arn_and_by_source(local_cloud):
    names = local_cloud.names
    for function in ("sales-projector", names.function_arn("sales-projector")):
        listed = aws(local_cloud, "lambda", "list-event-source-mappings", "--function-name", function)
        assert [m["FunctionArn"] for m in listed["EventSourceMappings"]] == [names.function_arn("sales-projector")]
    other = aws(local_cloud, "lambda", "list-event-source-mappings", "--event-source-arn",
                names.stream_arn("no-such-stream"))
    assert other["EventSourceMappings"] == []


def test_a_described_mapping_cannot_be_changed_through_the_api_and_the_error_says_where(local_cloud):
    uuid = aws(local_cloud, "lambda", "list-event-source-mappings")["EventSourceMappings"][0]["UUID"]
    done = aws(local_cloud, "lambda", "update-event-source-mapping", "--uuid", uuid, "--batch-size", "10",
               check=False)
    assert done.returncode != 0
    assert "InvalidParameterValueException" in done.stderr and "resources.py" in done.stderr


# ---------------------------------------------------------------------- function logs
def _invoke_with_tail(cloud, tmp_path, function: str, event: dict) -> str:
    out = tmp_path / "out.json"
    reply = aws(cloud, "lambda", "invoke", "--function-name", function, "--log-type", "Tail",
                "--payload", json.dumps(event), str(out))  # AWS CLI v1: the payload is sent as written
    tail = base64.b64decode(reply["LogResult"]).decode()
    return re.search(r"START RequestId: (\S+)", tail).group(1)


def _cloudwatch_lines(cloud, group: str) -> list[dict]:
    events, token = [], None
    while True:
        done = aws(cloud, "logs", "filter-log-events", "--log-group-name", group,
                   *(["--next-token", token] if token else []), check=False)
        if "ResourceNotFoundException" in done.stderr:
            return []  # the group is created with its first lines, up to a second after them
        assert done.returncode == 0, done.stderr
        page = json.loads(done.stdout)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def test_function_logs_reach_cloudwatch_logs_per_environment_and_stay_in_the_file(local_cloud, tmp_path):
    # A body ingest refuses: its handler logs the rejection, and nothing is written anywhere.
    request_id = _invoke_with_tail(local_cloud, tmp_path, "sales-ingest",
                                   {"body": "[]", "requestContext": {"requestId": "logs-test"}})
    group = "/aws/lambda/sales-ingest"
    deadline = time.monotonic() + 30
    while True:
        lines = [e for e in _cloudwatch_lines(local_cloud, group) if request_id in e["message"]]
        if len(lines) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    messages = [e["message"] for e in lines]
    assert any(m.startswith(f"START RequestId: {request_id}") for m in messages), messages
    assert any(m.startswith(f"END RequestId: {request_id}") for m in messages), messages
    assert any(m.startswith(f"REPORT RequestId: {request_id}") for m in messages), messages
    streams = {e["logStreamName"] for e in lines}
    assert len(streams) == 1 and STREAM_NAME.match(streams.pop())
    handler = [e for e in _cloudwatch_lines(local_cloud, group) if '"batch rejected"' in e["message"]]
    assert any('"logs-test"' in e["message"] for e in handler), "the handler's own log line is missing"
    described = aws(local_cloud, "logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert described and all(STREAM_NAME.match(s["logStreamName"]) for s in described)
    in_file = (Path(local_cloud.config.state_dir) / "logs" / "lambda" / "sales-ingest.log").read_text()
    for message in messages:
        assert message in in_file


def test_consumer_invocations_are_logged_in_their_groups(local_cloud):
    from .stream_support import post_events, settle
    from .test_stream_bad_input import batch, sale

    sent = time.time()
    response = post_events(local_cloud, batch(sale(2, event_id="0000000000c10d5e:2", invoice_no="X999997")))
    assert response.status_code == 200, response.text
    settle(local_cloud, time.time(), timeout=120, firehose=False)
    for function in ("sales-projector", "sales-archiver"):
        deadline = time.monotonic() + 30
        while True:
            reports = [e for e in _cloudwatch_lines(local_cloud, f"/aws/lambda/{function}")
                       if e["message"].startswith("REPORT RequestId:") and e["timestamp"] >= sent * 1000 - 1000]
            if reports or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert reports, f"no REPORT line of {function} in CloudWatch Logs since the event was sent"


# ---------------------------------------------------------------------- Redshift Serverless
def test_redshift_serverless_describes_the_local_warehouse_and_its_endpoint_connects(local_cloud):
    workgroups = aws(local_cloud, "redshift-serverless", "list-workgroups")["workgroups"]
    assert [w["workgroupName"] for w in workgroups] == [local_cloud.resources.project]
    workgroup = aws(local_cloud, "redshift-serverless", "get-workgroup", "--workgroup-name",
                    local_cloud.resources.project)["workgroup"]
    assert workgroup == workgroups[0] and workgroup["status"] == "AVAILABLE"
    assert workgroup["baseCapacity"] == local_cloud.resources.warehouse.base_rpu
    namespace = aws(local_cloud, "redshift-serverless", "get-namespace", "--namespace-name",
                    workgroup["namespaceName"])["namespace"]
    assert namespace["dbName"] == local_cloud.resources.warehouse.database
    secret = json.loads(local_cloud.client("secretsmanager").get_secret_value(
        SecretId=local_cloud.resources.warehouse.admin_secret)["SecretString"])
    assert namespace["adminUsername"] == secret["username"]
    endpoint = workgroup["endpoint"]
    with psycopg.connect(host=endpoint["address"], port=endpoint["port"], dbname=namespace["dbName"],
                         user=secret["username"], password=secret["password"], connect_timeout=10) as conn:
        assert conn.execute("select current_database()").fetchone() == (namespace["dbName"],)


def test_redshift_serverless_errors_are_aws_json_errors(local_cloud):
    missing = aws(local_cloud, "redshift-serverless", "get-workgroup", "--workgroup-name", "nope", check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    assert local_cloud.resources.project in missing.stderr
    other = aws(local_cloud, "redshift-serverless", "create-workgroup", "--workgroup-name", "second-workgroup",
                "--namespace-name", "second-namespace", check=False)
    assert other.returncode != 0 and "UnknownOperationException" in other.stderr
    assert "ListWorkgroups" in other.stderr and "<html" not in other.stderr.lower()
