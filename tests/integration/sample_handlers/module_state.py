"""Counts its invocations in module-level state: proves warm reuse (and cold starts)."""

import os

INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    return {"invocations": INVOCATIONS, "pid": os.getpid()}
