"""Answer with the proxy event received and how many times this warm worker has been invoked."""

import json

_invocations = 0


def handler(event, context):
    global _invocations
    _invocations += 1
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps({"event": event, "invocations": _invocations}),
    }
