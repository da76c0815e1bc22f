"""CloudFormation for the local cloud: deploy the synthesized CDK app (`cdk.out`) into it.

`make up FROM=cdk.out` (`python -m emulation up --from cdk.out`) provisions the embedded cloud from
the stack template and its assets instead of `pipeline/resources.py`, so what runs locally is the
artifact `make deploy-aws` ships:

- `assembly`: the stack template and the asset manifest (S3 location -> file or folder in cdk.out);
- `intrinsics`, `physical`: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, ... with
  the physical names and ids of the local cloud;
- `translate` (+ `translate_api`, `translate_batch`): the template -> the description object
  (`model`) the provisioning steps and runtime services already consume, extended with what only
  the template carries (code assets and layers, models inline, the Glue script asset and its
  arguments verbatim, secret generation rules, physical names);
- `resource_types`: per resource type, runs / emulated partly (the gap) / not emulated (the
  reason); start-up lists the template by it (`startup`), docs/cloudformation.md is generated from it;
- `constraints`: AWS-documented rules that decide whether data flows (Firehose -> Redshift needs a
  public workgroup admitting Firehose's CIDR), enforced at run time as AWS would;
- `sandbox`: Lambda workers and Glue runs whose import path holds the artifact and the runtime
  AWS provides, never the working tree;
- `steps`: the provisioning steps only a template needs (secrets, Glue, outputs);
- `outputs`: the stack's Outputs evaluated locally (what `make env` reads, as `deploy env` on AWS).

Known gaps vs AWS CloudFormation: create only (no stack updates, change sets, rollback, drift or
deletion; `make down` + `make up` recreates); one stack per assembly; `DependsOn` is not followed
(the provisioning steps have their own order); custom resources do not run; parameters take their
defaults; names and ids AWS would generate are deterministic stand-ins; the warehouse SQL is
applied from the working tree, as `python -m deploy schema` does after `cdk deploy`.
"""
