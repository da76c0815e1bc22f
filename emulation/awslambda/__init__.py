"""AWS Lambda (Python runtime) and its Kinesis event-source mappings: the code moto cannot run.

    service        LambdaService: each described function in its own worker processes
    workers        the execution environments (worker processes) of a function and their pool
    worker         one execution environment: `python -m emulation.awslambda.worker`
    context        the `context` object a handler receives
    logs           function logs to CloudWatch Logs (and the log file), as Lambda delivers them
    invoke_api     the Invoke REST API on the runtime's control port (boto3, moto's Invoke)
    faults         fault switches for reliability tests (fail, latency, kill; not an AWS feature)
    mappings       MappingService: Kinesis event-source mappings, one poller per shard
    shard_poller   one shard of one mapping: read in order, batch, deliver, checkpoint
    stream_batch   what Lambda does with one batch's outcome (partial failures, bisect, retries)
    events         the Kinesis event and the on-failure record Lambda builds

The mappings read shards with `emulation.kinesis` (the reader and checkpoint store Firehose uses).

Known gaps vs AWS:
- Invocations beyond the concurrency limit wait for a free environment instead of being throttled
  (429); idle environments are never reclaimed while the runtime runs; memory size is reported, not
  enforced; no /tmp isolation or read-only code directory; X-Ray trace ids are not set.
- Versions and aliases are not modelled: everything is `$LATEST` and other qualifiers are unknown
  functions; `AWS_LAMBDA_FUNCTION_TIMEOUT` is not set (AWS does not set it either; moto does).
- Event (asynchronous) invocations run once: AWS retries asynchronous failures twice and supports
  async destinations.
- The context's `identity` (Cognito) and `tenant_id` are always None.
- Mappings: `ParallelizationFactor` > 1 is treated as 1; idle shards are polled every 0.25 s (AWS:
  once a second); shard read limits (5 GetRecords/s, 2 MB/s) are not enforced; no enhanced
  fan-out, filter criteria or tumbling windows; a child shard waits for its parent only when both
  are known to the same runtime.
- Batch outcomes: retries back off 0.1 s doubling up to 2 s (AWS does not document its backoff); a
  response that is valid JSON but not an object (e.g. a string) counts as success; records expire
  only by MaximumRecordAgeInSeconds (the stream's retention is not applied).
- Kinesis events never set `encryptionType` (the local streams are unencrypted).
- Logs: lines are timestamped when the runtime reads them (within milliseconds of the write); a
  handler thread that writes between invocations is read at the next invocation (or when the
  environment stops), and past 64 KiB such output blocks that thread until then; while moto is
  unreachable lines wait in memory, at most `logs.MAX_QUEUED` (the oldest are dropped and counted;
  the file keeps every line); no log retention, subscription or metric filters; events are cut at
  256 KB (AWS's event size); no JSON log format or log level controls.
"""
