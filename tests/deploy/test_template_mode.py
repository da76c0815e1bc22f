"""The synthesized template as template mode (`make up FROM=cdk.out`) reads it: every resource type
has a status (a new type fails here until it is classified in
emulation/cloudformation/resource_types.py), the template translates, and Firehose can reach the
warehouse the way AWS requires (the rule template mode enforces at run time)."""

from __future__ import annotations

from emulation.cloudformation.resource_types import IGNORED, UNKNOWN, support
from emulation.cloudformation.translate import describe


def test_every_resource_type_of_the_stack_has_a_template_mode_status(synthesized):
    types = {r["Type"] for r in synthesized.template["Resources"].values()} - IGNORED
    unknown = sorted(t for t in types if support(t) is UNKNOWN)
    assert not unknown, f"classify these in emulation/cloudformation/resource_types.py: {unknown}"


def test_the_stack_translates_with_every_function_mapping_and_job(synthesized):
    resources = describe(synthesized.outdir)
    assert {f.name for f in resources.functions} == {"sales-ingest", "sales-projector", "sales-archiver", "sales-query"}
    assert {m.function for m in resources.event_source_mappings} == {"sales-projector", "sales-archiver"}
    assert [j.name for j in resources.glue_jobs] == ["sales-batch-load"]
    assert all(resources.asset_at(j.script_location) for j in resources.glue_jobs)


def test_firehose_can_reach_the_warehouse_as_aws_requires(synthesized):
    resources = describe(synthesized.outdir)
    assert resources.firehoses and all(fh.unreachable is None for fh in resources.firehoses), resources.problems
