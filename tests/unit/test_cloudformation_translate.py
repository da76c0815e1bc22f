"""emulation.cloudformation.translate: a template becomes the description the local cloud runs,
every value taken from the template, AWS's defaults where it says nothing."""

from __future__ import annotations

import json

import pytest

from emulation.cloudformation.assembly import TemplateError
from emulation.cloudformation.resource_types import NOT_EMULATED, summary
from emulation.cloudformation.translate import describe

from .cloudformation_support import CODE, LAYER, minimal_stack, write_assembly


def translate(tmp_path, edit=None):
    template = minimal_stack()
    if edit:
        edit(template["Resources"])
    return describe(write_assembly(tmp_path / "cdk.out", template))


def test_a_mapping_without_settings_gets_awss_defaults_not_the_descriptions(tmp_path):
    (mapping,) = translate(tmp_path).event_source_mappings
    assert (mapping.batch_size, mapping.maximum_batching_window_s) == (100, 0)
    assert mapping.bisect_batch_on_function_error is False  # the description's default is True
    assert mapping.report_batch_item_failures is False
    assert (mapping.maximum_retry_attempts, mapping.maximum_record_age_s) == (-1, -1)
    assert mapping.on_failure_queue is None


def test_a_mappings_settings_come_from_the_template(tmp_path):
    def edit(r):
        r["Mapping"]["Properties"].update(
            BatchSize=7, MaximumBatchingWindowInSeconds=3, BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=2, MaximumRecordAgeInSeconds=120, FunctionResponseTypes=["ReportBatchItemFailures"],
            DestinationConfig={"OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}})
    (m,) = translate(tmp_path, edit).event_source_mappings
    assert (m.function, m.stream, m.batch_size, m.maximum_batching_window_s) == ("consumer", "events", 7, 3)
    assert m.bisect_batch_on_function_error and m.report_batch_item_failures
    assert (m.maximum_retry_attempts, m.maximum_record_age_s, m.on_failure_queue) == (2, 120, "failures")


def test_settings_it_cannot_honour_are_refused_naming_the_resource(tmp_path):
    def edit(r):
        r["Mapping"]["Properties"]["FilterCriteria"] = {"Filters": [{"Pattern": "{}"}]}
    with pytest.raises(TemplateError, match="Mapping: FilterCriteria is not emulated"):
        translate(tmp_path, edit)


def test_a_function_runs_from_its_code_asset_and_layers_with_its_environment(tmp_path):
    (fn,) = translate(tmp_path).functions
    assert fn.code_dir.endswith(f"asset.{CODE}") and fn.layer_dirs[0].endswith(f"asset.{LAYER}")
    assert fn.environment == {"TABLE": "orders", "BUCKET": "archive-123456789012-us-east-1"}
    assert (fn.handler, fn.timeout_s, fn.memory_mb) == ("app.handler", 20, 128)  # 128: Lambda's default


def test_a_function_in_another_runtime_is_listed_as_not_run(tmp_path):
    def edit(r):
        r["Node"] = {"Type": "AWS::Lambda::Function", "Properties": {
            "Handler": "index.handler", "Runtime": "nodejs20.x", "Code": r["Consumer"]["Properties"]["Code"]}}
    resources = translate(tmp_path, edit)
    assert [f.name for f in resources.functions] == ["consumer"]
    assert [(n.logical_id, n.reason) for n in resources.not_run] == [
        ("Node", "runtime nodejs20.x: only Python functions run here")]


def test_the_api_validates_a_body_only_where_a_body_validator_says_so(tmp_path):
    api = translate(tmp_path).api
    routes = {(r.method, r.path): r for r in api.routes}
    assert routes[("POST", "/orders")].request_model == "Order"
    assert routes[("PUT", "/orders/{id}")].request_model is None  # its validator checks parameters only
    assert api.models == {"Order": {"type": "object", "required": ["id"]}}
    assert (api.stage, api.usage_plan.rate_limit, api.usage_plan.burst_limit) == ("v2", 7.0, 9)
    assert (api.usage_plan.quota_limit, api.usage_plan.quota_period, api.usage_plan.api_keys) == (100, "WEEK", ("client",))


def test_warehouse_firehose_and_glue_job_come_from_the_template(tmp_path):
    resources = translate(tmp_path)
    assert (resources.warehouse.database, resources.warehouse.admin_secret) == ("shop", "shop/admin")
    (fh,) = resources.firehoses
    assert (fh.source_stream, fh.staging_bucket, fh.loader_secret) == ("events", "archive-123456789012-us-east-1", "shop/loader")
    assert (fh.prefix, fh.errors_prefix, fh.buffer_interval_s, fh.buffer_size_mb, fh.retry_duration_s) == (
        "fh/", "fh-errors/", 5, 1, 30)
    assert (fh.table, fh.columns, fh.copy_options) == ("raw.events", ("id", "amount"), "JSON 'auto' GZIP")
    (job,) = resources.glue_jobs
    assert job.default_arguments == {"--TempDir": "s3://archive-123456789012-us-east-1/tmp/", "--TABLE": "raw",
                                     "--extra-py-files": f"s3://cdk-hnb659fds-assets-123456789012-us-east-1/{'d' * 64}.zip"}
    assert resources.asset_at(job.script_location).path.endswith(".py")
    assert (job.connections, job.warehouse_secret) == (("warehouse",), "shop/loader")  # its connection's user
    (connection,) = resources.glue_connections
    assert connection.properties["JDBC_CONNECTION_URL"] == (
        "jdbc:redshift://shop.123456789012.us-east-1.redshift-serverless.amazonaws.com:5439/shop")
    secrets = {s.name: s for s in resources.secrets}
    assert secrets["shop/admin"].username == "admin" and secrets["shop/admin"].generate["PasswordLength"] == 24


def test_firehose_staging_other_than_gzip_is_refused(tmp_path):
    def edit(r):
        r["Delivery"]["Properties"]["RedshiftDestinationConfiguration"]["S3Configuration"]["CompressionFormat"] = "UNCOMPRESSED"
    with pytest.raises(TemplateError, match="Delivery: S3 staging CompressionFormat UNCOMPRESSED"):
        translate(tmp_path, edit)


def test_every_resource_is_listed_even_of_a_type_template_mode_does_not_know(tmp_path):
    def edit(r):
        r["Odd"] = {"Type": "AWS::Lightsail::Instance", "Properties": {}}
    resources = translate(tmp_path, edit)
    template = json.loads((tmp_path / "cdk.out" / "Shop.template.json").read_text())
    groups = summary(template, resources.not_run)
    listed = sum(n for group in groups.values() for _, n, _ in group)
    assert listed == len(template["Resources"])
    assert ("AWS::Lightsail::Instance", 1, "unknown to template mode") in groups[NOT_EMULATED]
