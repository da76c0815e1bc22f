"""The local cloud's AWS API endpoint: moto 5.2.1 in server mode, with our patches.

moto emulates every AWS API the pipeline calls (Kinesis, DynamoDB, S3, SQS, IAM, Secrets Manager,
Lambda, API Gateway, Firehose, Glue, CloudWatch Logs, STS); the other packages add what it does
not run. Patches that need the described resources ask the runtime's control port
(`patches/runtime_link.py`).

    server    `python -m emulation.moto.server`: applies the patches, serves, answers health
    patches/  kinesis (safe and linear shard writes and reads), dynamodb and responses (faster
              response writing), dynamodb_atomic (one DynamoDB request at a time, so conditional
              writes are atomic), awslambda (Invoke -> the runtime's workers), glue
              (StartJobRun/GetJobRun -> the runtime's Glue runner), apigateway (GetExport -> the
              described API's document), lambda_mappings (List/GetEventSourceMapping -> the
              runtime's mappings), redshift_serverless (-> the local warehouse's workgroup);
              listed in emulation.registry.MOTO_PATCHES
    persistence/  moto's state on disk (`--state-dir`): per-service snapshots of the control
              plane, logs of Kinesis records, DynamoDB items and S3 objects; restored at start

Known gaps vs AWS:
- Those of moto 5.2.1 itself; requests are not signature-checked, every account id is accepted,
  and IAM policies are stored, not enforced.
- Kinesis: sequence numbers are small consecutive integers per shard (AWS: large, unique across
  the stream); records never expire with the retention period; no per-shard write limit (AWS: 1 MB/s
  or 1,000 records/s, else ProvisionedThroughputExceededException).
- Lambda: only functions of the resource description run (one created ad hoc in moto answers
  ResourceNotFoundException from the runtime); an event-source mapping created ad hoc with
  `create-event-source-mapping` is listed by moto but not run; ListEventSourceMappings does not
  page (`Marker`/`MaxItems` are ignored: a handful of mappings).
- API Gateway GetExport and Redshift Serverless: see emulation.apigateway and emulation.redshift.
- Glue: BatchStopJobRun does not stop the local process; Attempt is always 0; without a runtime
  (URL unset or down) StartJobRun fails with an error naming it rather than pretending to run.
- The dynamodb and responses patches change only how responses are written, not what they say.
- What is not kept across a restart of moto: in `emulation.moto.persistence`.
"""
