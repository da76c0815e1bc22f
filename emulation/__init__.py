"""The embedded local cloud: every AWS service the pipeline uses, on one machine, no Docker.

Which package emulates which AWS service (each package's docstring: what it emulates, its modules,
and its known gaps vs AWS):

    AWS service                      package       how
    every AWS API (control plane)    moto/         moto 5.2.1 server + our patches, state on disk
    Lambda, Kinesis event sources    awslambda/    worker processes, shard pollers, logs to CloudWatch
    Kinesis (reading shards)         kinesis/      shard reader + checkpoints, for Lambda and Firehose
    API Gateway (REST, data plane)   apigateway/   HTTP server: keys, throttles, models, proxy, export
    Data Firehose (-> Redshift)      firehose/     Kinesis -> S3 staging -> COPY
    Redshift Serverless              redshift/     PostgreSQL 16 + Redshift SQL and COPY, workgroup
    Glue job runs                    glue/         job scripts on local PySpark (glue_local/)
    (what CDK deploys)               provision/    the resource description, created through boto3
    CloudFormation (a synthesized    cloudformation/  cdk.out -> the description; functions and the
      template, `up --from`)                          Glue job run from their assets, isolated

The rest runs the cloud: control/ (`python -m emulation` up/down/status, the runtime process,
the Docker harness), config.py (state folder, ports, endpoints), naming.py (local physical names
and ARNs), registry.py (every module name started or loaded by string). docs/internals.md draws it.
"""
