"""The real description with Firehose settings shrunk so outages fit in a test: a 1 MB / 2-second
buffer and a 20-second retry duration (the tests start only the runtime's firehose service)."""

from __future__ import annotations

from pipeline.resources import PIPELINE

_real = PIPELINE.firehoses[0]

RESOURCES = PIPELINE.model_copy(update={
    "firehoses": (_real.model_copy(update={"buffer_size_mb": 1, "buffer_interval_s": 2, "retry_duration_s": 20}),),
})
