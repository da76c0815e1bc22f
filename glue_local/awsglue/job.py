"""`Job` with job bookmarks persisted on local disk.

`Job(glue_context).init(name, args)` reads `args["job_bookmark_option"]` (from getResolvedOptions;
default disable, as on Glue) and loads the bookmark of `name`. A source read with a
`transformation_ctx` then skips the S3 objects the bookmark holds; `commit()` saves what this run
read. The state is one JSON file per job: `<state>/glue/bookmarks/<job>.json` with
`{transformation_ctx: {"objects": {s3_uri: etag}}}` (state = `$GLUE_LOCAL_STATE_DIR`, else
`$LOCALCLOUD_STATE_DIR/glue`, else `.localcloud/glue`).

- job-bookmark-enable: read only new objects, commit records them.
- job-bookmark-pause: read only new objects, commit changes nothing.
- job-bookmark-disable: read everything, commit changes nothing.

Known gaps vs AWS: Glue bookmarks S3 by object modification time (plus a list at the boundary);
here by object key + ETag, so a rewritten object is read again (on AWS too, by its new mtime).
`--job-bookmark-from/--to` and ResetJobBookmark are not supported: delete the JSON file to reset.
A run that fails before commit() leaves the bookmark unchanged, as on AWS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def state_dir() -> Path:
    if os.environ.get("GLUE_LOCAL_STATE_DIR"):
        return Path(os.environ["GLUE_LOCAL_STATE_DIR"])
    return Path(os.environ.get("LOCALCLOUD_STATE_DIR", ".localcloud")) / "glue"


class Bookmarks:
    """Bookmark state of one job run: what earlier runs committed, plus what this run read."""

    def __init__(self, job_name: str, option: str):
        self.job_name, self.option = job_name, option
        self.path = state_dir() / "bookmarks" / f"{_safe(job_name)}.json"
        self.committed: dict = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.pending: dict = json.loads(json.dumps(self.committed))

    @property
    def filters(self) -> bool:
        return self.option in ("job-bookmark-enable", "job-bookmark-pause")

    def seen(self, ctx: str) -> dict[str, str]:
        if not ctx or not self.filters:
            return {}
        return self.committed.get(ctx, {}).get("objects", {})

    def record(self, ctx: str, objects: dict[str, str]) -> None:
        if ctx:
            self.pending.setdefault(ctx, {"objects": {}})["objects"].update(objects)

    def save(self) -> None:
        if self.option != "job-bookmark-enable":
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.pending, indent=1, sort_keys=True))
        tmp.replace(self.path)  # atomic: a crash never leaves half a bookmark


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


class Job:
    @classmethod
    def job_bookmark_options(cls):
        return [
            "--job-bookmark-option",
            "job-bookmark-enable",
            "job-bookmark-pause",
            "job-bookmark-disable",
        ]

    def __init__(self, glue_context):
        self._glue_context = glue_context
        self._bookmarks: Bookmarks | None = None

    def init(self, job_name: str, args: dict | None = None) -> None:
        args = args or {}
        option = args.get("job_bookmark_option") or "job-bookmark-disable"
        if option not in self.job_bookmark_options()[1:]:
            raise ValueError(
                f"job_bookmark_option {option!r} is not one of {self.job_bookmark_options()[1:]}"
            )
        self._bookmarks = Bookmarks(job_name, option)
        self._glue_context._bookmarks = self._bookmarks
        self._glue_context.get_logger().info(
            f"job {job_name} run {args.get('JOB_RUN_ID') or '-'}: bookmarks {option}"
        )

    def isInitialized(self) -> bool:
        return self._bookmarks is not None

    def commit(self) -> None:
        if self._bookmarks is None:
            raise RuntimeError("Job.commit() before Job.init(): call job.init(name, args) first")
        self._bookmarks.save()
