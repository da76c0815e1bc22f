"""Sleeps `seconds`, or exits the process (`exit`), or raises (`raise`): timeouts and crashes."""

import os
import sys
import time


def handler(event, context):
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("exit") is not None:
        sys.stdout.flush()
        os._exit(event["exit"])  # a crash: the process dies without answering
    if event.get("print_lines"):
        for i in range(event["print_lines"]):
            print(f"line {i} " + "x" * 200)
            sys.stderr.write(f"err {i}\n")
    time.sleep(event.get("seconds", 0))
    return {"slept": event.get("seconds", 0), "pid": os.getpid()}
