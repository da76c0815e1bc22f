"""Does nothing: the consumer of the mapping throughput benchmark."""


def handler(event, context):
    return None
