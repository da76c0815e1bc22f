"""Returns the event with what the handler saw of its context and environment."""

import os

ENV_KEYS = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "_HANDLER",
    "GREETING_TABLE",
    "HOME_BUCKET",
)


def handler(event, context):
    print(
        f"echo handler got {len(str(event))} characters"
    )  # must land in the log, not the protocol
    return {
        "event": event,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "client_context_custom": context.client_context.custom
            if context.client_context
            else None,
        },
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "pid": os.getpid(),
    }
