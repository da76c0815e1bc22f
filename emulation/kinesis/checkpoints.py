"""Where each stream consumer stands in each shard, kept on disk so a restart of the runtime resumes
where it stopped, as a Lambda event-source mapping and a Firehose delivery stream do.

One small JSON file per consumer and shard: `<state>/checkpoints/<consumer>/<shardId>.json`
(consumer: a mapping's `<stream>--<function>`, or `firehose-<name>`) with the stream's identity (ARN
and creation time) and the last sequence number whose processing is finished (a mapping: delivered,
or discarded to the on-failure destination; Firehose: loaded, or recorded as a skipped load). A
restart reads the shard from `AFTER_SEQUENCE_NUMBER` of it: no record is skipped and at most what
was in flight is delivered again. If the stream was deleted and created again (e.g. the moto server
restarted, which starts sequence numbers over), the identity no longer matches and the consumer
starts over from its starting position. For LATEST the time the consumer first started is kept, so
records written while the runtime was down are still read after a restart.

Files are replaced atomically (write a temporary file, then rename), so a crash never leaves a
torn checkpoint.

Known gaps vs AWS: in the package docstring (`emulation.kinesis`).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StreamIdentity:
    arn: str
    created: float
    """StreamCreationTimestamp (epoch seconds): differs when a stream of the same name is recreated."""


@dataclass(frozen=True)
class ShardCheckpoint:
    stream_arn: str
    stream_created: float
    sequence_number: str | None = None
    """Last sequence number fully handled; None before the first batch completes."""
    latest_from: float | None = None
    """For StartingPosition LATEST: when the mapping first started reading this shard."""

    def belongs_to(self, identity: StreamIdentity) -> bool:
        return self.stream_arn == identity.arn and self.stream_created == identity.created


class CheckpointStore:
    def __init__(self, root: Path, consumer: str):
        self.dir = Path(root) / consumer
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, shard_id: str) -> Path:
        return self.dir / f"{shard_id}.json"

    def load(self, shard_id: str) -> ShardCheckpoint | None:
        try:
            data = json.loads(self._path(shard_id).read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ValueError(
                f"checkpoint {self._path(shard_id)} is not valid JSON ({exc}); "
                "delete it to restart this shard from the mapping's StartingPosition"
            ) from None
        return ShardCheckpoint(**data)

    def save(self, shard_id: str, checkpoint: ShardCheckpoint) -> None:
        path = self._path(shard_id)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(checkpoint)))
        os.replace(tmp, path)

    def forget(self, shard_id: str) -> None:
        self._path(shard_id).unlink(missing_ok=True)

    def forget_all(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def shards(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json"))
