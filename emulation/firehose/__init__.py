"""Amazon Data Firehose with a Kinesis stream source and a Redshift destination.

moto records delivery streams (emulation.provision.firehose creates them) but never reads a
Kinesis source and drops Redshift-bound data, so the runtime delivers:

    service    FirehoseService: read the stream (emulation.kinesis), buffer, stage, COPY, retry,
               skip and `recover`
    delivery   the S3 side: object keys, gzip intermediate objects, COPY manifests

Known gaps vs AWS:
- Reads the source from TRIM_HORIZON on first start (AWS: from LATEST at creation time).
- One intermediate object, one manifest and one COPY per buffer flush (AWS may COPY several
  objects per manifest); the delivery stream version in object names is always 1.
- Delivery is at least once, as on AWS: a crash between a committed COPY and the checkpoint loads
  that buffer again on restart (stream.sales_events_dedup hides the copies).
- No data transformation (Lambda), no format conversion, no CloudWatch metrics or logs, no S3
  backup of source records; record aggregation (KPL) is not de-aggregated.
- The size hint is exact (a flush as soon as the buffered uncompressed bytes reach it); AWS treats
  it as a hint and may deliver somewhat larger or smaller objects.
"""
