"""The local cloud's live console: one page showing every stage of the pipeline while it runs.

What it stands in for: the CloudWatch dashboards, the Lambda, Kinesis and SQS consoles an AWS user
would open, and LocalStack's web console. It draws the pipeline as its stages (API -> ingest ->
Kinesis -> projector / archiver / Firehose -> DynamoDB / S3 / warehouse; S3 -> Glue -> warehouse)
with live figures, and lists the on-failure queues' failed batches (`make redrive` re-delivers
them).

Modules:
    service    the runtime service: routes on the control port, the collecting threads
    collector  one snapshot of every stage (where each figure comes from: its docstring)
    sources    the costly reads, cached or incremental (archive objects read once)
    static/    index.html, console.css, console.js: the page, no framework, no CDN

Known gaps vs AWS:
- DynamoDB item counts are DescribeTable's `ItemCount`, live in moto; on AWS it is refreshed about
  every six hours.
- Records behind a consumer are the shard's last sequence number minus its checkpoint, exact only
  because moto numbers records 1, 2, 3, ...; AWS exposes the iterator age (shown too) instead.
- Listing a queue's failed batches receives its messages for a few seconds and makes them visible
  again: it raises their receive count (a queue with a redrive policy would count the peeks).
- Glue rows read/loaded/quarantined come from the job's own summary line in its log (its
  CloudWatch output on AWS), not from a Glue API.
- The console is served by the local runtime only; on AWS use CloudWatch and `make redrive STACK=aws`.
"""
