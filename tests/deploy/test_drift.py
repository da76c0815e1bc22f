"""Drift: the names and settings in the synthesized template equal those the local cloud
provisions from the same description (pipeline/resources.py, emulation.naming.LocalNames).

Template values are evaluated with the local cloud's account and region substituted for the
pseudo parameters, so `ecommerce-raw-archive-${AWS::AccountId}-${AWS::Region}` must come out as
exactly the bucket the local cloud creates.
"""

from __future__ import annotations

import pytest

from deploy.glue import AWS_ONLY_ARGUMENTS
from emulation.naming import LocalNames
from pipeline.glue_job_arguments import job_arguments
from pipeline.resources import PIPELINE

ACCOUNT, REGION = "123456789012", "us-east-1"
NAME_PROPERTY = {
    "AWS::Kinesis::Stream": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Lambda::Function": "FunctionName",
}


@pytest.fixture(scope="module")
def local():
    return LocalNames(PIPELINE, REGION, ACCOUNT)


@pytest.fixture(scope="module")
def ev(synthesized):
    resources = synthesized.template["Resources"]
    pseudo = {
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }

    def evaluate(value):
        if isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, list):
            return [evaluate(v) for v in value]
        ((fn, arg),) = value.items()
        if fn == "Ref":
            if arg in pseudo:
                return pseudo[arg]
            res = resources[arg]
            return evaluate(res["Properties"][NAME_PROPERTY[res["Type"]]])
        if fn == "Fn::Join":
            return arg[0].join(str(evaluate(v)) for v in arg[1])
        if fn == "Fn::Sub":  # CDK asset URLs: the bootstrap bucket, account and region
            text = arg if isinstance(arg, str) else arg[0]
            for name, value in pseudo.items():
                text = text.replace("${" + name + "}", value)
            assert "${" not in text, text
            return text
        if fn == "Fn::GetAtt":
            res = resources[arg[0]]
            name = evaluate(res["Properties"][NAME_PROPERTY[res["Type"]]])
            return f"<{res['Type']}:{name}:{arg[1]}>"
        raise AssertionError(f"cannot evaluate {value}")

    return evaluate


def by_name(synthesized, cfn_type, ev):
    prop = NAME_PROPERTY[cfn_type]
    return {
        ev(r["Properties"][prop]): r["Properties"]
        for r in synthesized.resources(cfn_type).values()
        if prop in r["Properties"]
    }


def test_streams(synthesized, ev):
    streams = by_name(synthesized, "AWS::Kinesis::Stream", ev)
    assert set(streams) == {s.name for s in PIPELINE.streams}
    for s in PIPELINE.streams:
        assert streams[s.name]["ShardCount"] == s.shard_count
        assert streams[s.name]["RetentionPeriodHours"] == s.retention_hours


def test_tables(synthesized, ev):
    tables = by_name(synthesized, "AWS::DynamoDB::Table", ev)
    assert set(tables) == {t.name for t in PIPELINE.tables}
    for t in PIPELINE.tables:
        keys = [(t.partition_key, "HASH")] + ([(t.sort_key, "RANGE")] if t.sort_key else [])
        assert tables[t.name]["KeySchema"] == [
            {"AttributeName": name, "KeyType": kind} for name, kind in keys
        ], t.name


def test_buckets_match_local_names(synthesized, ev, local):
    buckets = by_name(synthesized, "AWS::S3::Bucket", ev)
    assert set(buckets) == {local.bucket(b.id) for b in PIPELINE.buckets}


def test_queues_and_secrets(synthesized, ev):
    assert set(by_name(synthesized, "AWS::SQS::Queue", ev)) == {q.name for q in PIPELINE.queues}
    assert set(by_name(synthesized, "AWS::SecretsManager::Secret", ev)) == {
        s.name for s in PIPELINE.secrets
    }


def test_functions_have_the_same_handler_settings_and_environment(synthesized, ev, local):
    functions = by_name(synthesized, "AWS::Lambda::Function", ev)
    for f in PIPELINE.functions:
        props = functions[f.name]
        assert props["Handler"] == f.handler
        assert props["MemorySize"] == f.memory_mb
        assert props["Timeout"] == f.timeout_s
        # Reservations are opt-in on AWS (test_deliverability.py item 5); locally they bound workers.
        assert props.get("ReservedConcurrentExecutions") is None
        env = {k: ev(v) for k, v in props["Environment"]["Variables"].items()}
        assert env == local.environment(f.name), f.name


def test_event_source_mappings(synthesized, ev):
    mappings = {}
    for m in synthesized.resources("AWS::Lambda::EventSourceMapping").values():
        p = m["Properties"]
        mappings[ev(p["FunctionName"])] = p
    assert set(mappings) == {m.function for m in PIPELINE.event_source_mappings}
    for m in PIPELINE.event_source_mappings:
        p = mappings[m.function]
        assert p["BatchSize"] == m.batch_size
        assert p["MaximumBatchingWindowInSeconds"] == m.maximum_batching_window_s
        assert p["StartingPosition"] == m.starting_position
        assert p.get("MaximumRetryAttempts", -1) == m.maximum_retry_attempts
        assert p.get("MaximumRecordAgeInSeconds", -1) == m.maximum_record_age_s
        assert p.get("ParallelizationFactor", 1) == m.parallelization_factor
        assert ev(p["EventSourceArn"]) == f"<AWS::Kinesis::Stream:{m.stream}:Arn>"
        assert (
            ev(p["DestinationConfig"]["OnFailure"]["Destination"])
            == f"<AWS::SQS::Queue:{m.on_failure_queue}:Arn>"
        )


def test_api_routes(synthesized):
    res = synthesized.template["Resources"]
    api = next(iter(synthesized.resources("AWS::ApiGateway::RestApi").values()))["Properties"]
    assert api["Name"] == PIPELINE.api.name

    def path_of(ref) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        props = res[ref["Ref"]]["Properties"]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    routes = {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]))
        for m in synthesized.resources("AWS::ApiGateway::Method").values()
    }
    assert routes == {(r.method, r.path) for r in PIPELINE.api.routes}


def test_firehose(synthesized, ev):
    streams = synthesized.resources("AWS::KinesisFirehose::DeliveryStream")
    by = {s["Properties"]["DeliveryStreamName"]: s["Properties"] for s in streams.values()}
    assert set(by) == {f.name for f in PIPELINE.firehoses}
    for f in PIPELINE.firehoses:
        p = by[f.name]
        assert (
            ev(p["KinesisStreamSourceConfiguration"]["KinesisStreamARN"])
            == f"<AWS::Kinesis::Stream:{f.source_stream}:Arn>"
        )
        rs = p["RedshiftDestinationConfiguration"]
        assert rs["CopyCommand"] == {
            "DataTableName": f.table,
            "DataTableColumns": ",".join(f.columns),
            "CopyOptions": f.copy_options,
        }
        assert rs["RetryOptions"]["DurationInSeconds"] == f.retry_duration_s
        s3 = rs["S3Configuration"]
        assert s3["BufferingHints"] == {
            "IntervalInSeconds": f.buffer_interval_s,
            "SizeInMBs": f.buffer_size_mb,
        }
        assert (s3["Prefix"], s3["ErrorOutputPrefix"]) == (f.prefix, f.errors_prefix)
        assert (
            ev(rs["SecretsManagerConfiguration"]["SecretARN"]) == f.loader_secret
        )  # Ref of a secret: its ARN, by name


def test_glue_catalog_and_job(synthesized, ev, local):
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]
        for t in synthesized.resources("AWS::Glue::Table").values()
    }
    for gt in PIPELINE.glue_tables:
        t = tables[gt.name]
        assert t["DatabaseName"] == gt.database
        sd = t["TableInput"]["StorageDescriptor"]
        assert sd["Columns"] == [{"Name": c.name, "Type": c.type} for c in gt.columns]
        assert t["TableInput"]["PartitionKeys"] == [
            {"Name": c.name, "Type": c.type} for c in gt.partition_keys
        ]
        assert ev(sd["Location"]) == f"s3://{local.bucket(gt.bucket)}/{gt.prefix}"
    jobs = {
        j["Properties"]["Name"]: j["Properties"]
        for j in synthesized.resources("AWS::Glue::Job").values()
    }
    for job in PIPELINE.glue_jobs:
        p = jobs[job.name]
        assert p["GlueVersion"] == job.glue_version
        assert (p["WorkerType"], p["NumberOfWorkers"], p["Timeout"]) == (
            job.worker_type,
            job.number_of_workers,
            job.timeout_min,
        )
        # The whole argument set: what the local cloud provisions (the one shared function),
        # plus only the AWS-only arguments deploy/glue.py documents.
        deployed = {k: ev(v) for k, v in p["DefaultArguments"].items()}
        aws_only = {k: deployed.pop(k, None) for k in AWS_ONLY_ARGUMENTS}
        assert deployed == job_arguments(PIPELINE, job, local.bucket), job.name
        assert all(aws_only.values()), aws_only
        assert deployed["--job-bookmark-option"] == "job-bookmark-enable"
    conns = {
        c["Properties"]["ConnectionInput"]["Name"]
        for c in synthesized.resources("AWS::Glue::Connection").values()
    }
    assert conns == {j.default_arguments["--REDSHIFT_CONNECTION"] for j in PIPELINE.glue_jobs}
