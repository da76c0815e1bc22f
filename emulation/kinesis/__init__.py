"""Amazon Kinesis Data Streams, the consumers' side: reading a shard where a consumer left it.

The service itself is moto's (patched: emulation.moto.patches.kinesis). Both stream consumers of
the local cloud, the Lambda event-source mappings (emulation.awslambda.mappings) and Firehose
(emulation.firehose.service), read through this package:

    reader        ShardReader: open a shard after a consumer's checkpoint, read it page by page,
                  commit; KinesisReader: the calls (a plain signed HTTP request for GetRecords)
    checkpoints   CheckpointStore: one JSON file per consumer and shard in `<state>/checkpoints/`

Known gaps vs AWS: consumers read with shared-throughput GetRecords only (no enhanced fan-out,
SubscribeToShard); checkpoints live in the state folder (AWS keeps a mapping's or a delivery
stream's position inside the Lambda or Firehose service).
"""
