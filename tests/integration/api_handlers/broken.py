"""Answers API Gateway cannot map, chosen by the `mode` path parameter."""

import base64


def handler(event, context):
    mode = event["pathParameters"]["mode"]
    if mode == "raise":
        raise RuntimeError("the handler failed on purpose")
    if mode == "not-a-dict":
        return ["statusCode", 200]
    if mode == "no-status":
        return {"body": "{}"}
    if mode == "body-not-string":
        return {"statusCode": 200, "body": {"a": 1}}
    if mode == "extra-key":
        return {"statusCode": 200, "body": "{}", "cookies": ["a=b"]}
    if mode == "binary":
        return {"statusCode": 201, "isBase64Encoded": True, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01\xff").decode()}
    return {"statusCode": 200, "body": '{"mode": "unknown"}'}
