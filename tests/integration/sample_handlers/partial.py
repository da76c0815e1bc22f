"""Reports partial batch failures: a record whose data starts with FAIL-ONCE fails the first time
it is seen; MALFORMED-ONCE makes the whole response malformed (empty itemIdentifier) once."""

import base64

from . import recorder

SEEN: set[str] = set()


def handler(event, context):
    recorder.record(event, context)
    failures = []
    for r in event["Records"]:
        seq = r["kinesis"]["sequenceNumber"]
        data = base64.b64decode(r["kinesis"]["data"]).decode()
        if data.startswith(("FAIL-ONCE", "MALFORMED-ONCE")) and seq not in SEEN:
            SEEN.add(seq)
            failures.append({"itemIdentifier": "" if data.startswith("MALFORMED") else seq})
    return {"batchItemFailures": failures}
