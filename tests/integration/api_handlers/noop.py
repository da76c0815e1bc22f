"""The cheapest valid proxy response (the throughput benchmark's function)."""


def handler(event, context):
    return {"statusCode": 200, "body": "{}"}
