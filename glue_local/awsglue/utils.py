"""`getResolvedOptions` with the semantics of awsglue.utils on Glue.

- Every name asked for is a required `--NAME value` argument; a missing one raises
  GlueArgumentError with argparse's message ("the following arguments are required: --X").
- `--JOB_ID`, `--JOB_RUN_ID`, `--SECURITY_CONFIGURATION`, `--TempDir`, `--RedshiftTempDir`,
  `--encryption-type` and `--job-bookmark-option` are always accepted, never required (asking for
  TempDir does not make it required: Glue's own special case, kept); asking for a reserved one
  (job-bookmark-option, continuation-option, job-bookmark-from/to, JOB_ID, ...) raises RuntimeError.
- `job_bookmark_option` is always in the result (default 'job-bookmark-disable', as on Glue);
  TempDir and RedshiftTempDir mirror each other. Unknown arguments are ignored.

Known gaps vs AWS: continuation options are accepted but only mapped onto bookmark options.
"""

from __future__ import annotations

import argparse

BOOKMARK_OPTIONS = ["job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable"]
CONTINUATION_OPTIONS = ["continuation-enabled", "continuation-readonly", "continuation-ignore"]
RANGE_OPTIONS = ["job-bookmark-from", "job-bookmark-to"]
ID_PARAMS = ["JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION"]


class GlueArgumentError(Exception):
    pass


class GlueArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of sys.exit so the job fails with the reason
        raise GlueArgumentError(message)


def getResolvedOptions(args: list[str], options: list[str]) -> dict:
    reserved = [
        "job-bookmark-option",
        "continuation-option",
        *RANGE_OPTIONS,
        *ID_PARAMS,
        "encryption-type",
    ]
    for name in options:
        if name in reserved:
            raise RuntimeError(f"Using reserved arguments --{name}")
    parser = GlueArgumentParser(add_help=False)
    parser.add_argument("--job-bookmark-option", choices=BOOKMARK_OPTIONS, required=False)
    parser.add_argument("--continuation-option", choices=CONTINUATION_OPTIONS, required=False)
    for option in RANGE_OPTIONS:
        parser.add_argument(f"--{option}", required=False)
    for option in ID_PARAMS:
        parser.add_argument(f"--{option}", required=False)
    parser.add_argument("--encryption-type", choices=["sse-s3"])
    parser.add_argument("--RedshiftTempDir", required=False)
    parser.add_argument("--TempDir", required=False)
    for option in options:
        if option not in {"RedshiftTempDir", "TempDir"}:
            parser.add_argument(f"--{option}", required=True)
    parsed, _extra = parser.parse_known_args(args[1:])
    result = vars(parsed)
    if result.get("TempDir") is not None:
        result["RedshiftTempDir"] = result["TempDir"]
    elif result.get("RedshiftTempDir") is not None:
        result["TempDir"] = result["RedshiftTempDir"]
    continuation = result.pop("continuation_option", None)
    if result.get("job_bookmark_option") is None:
        result["job_bookmark_option"] = (
            BOOKMARK_OPTIONS[CONTINUATION_OPTIONS.index(continuation)]
            if continuation
            else "job-bookmark-disable"
        )
    return result
