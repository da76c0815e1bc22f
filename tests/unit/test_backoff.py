"""`pipeline.backoff`: full jitter under an exponential cap, the one retry delay of the pipeline."""

from __future__ import annotations

import pytest

from pipeline.backoff import Backoff


def test_the_cap_doubles_per_retry_up_to_the_ceiling():
    backoff = Backoff(base_s=0.05, cap_s=1.0)
    assert [backoff.delay(n, rand=lambda: 1.0) for n in range(6)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0])


def test_the_delay_is_drawn_uniformly_under_the_cap():
    backoff = Backoff(base_s=0.2, cap_s=10.0)
    assert backoff.delay(3, rand=lambda: 0.0) == 0.0
    assert backoff.delay(3, rand=lambda: 0.25) == pytest.approx(0.4)
    assert all(0.0 <= backoff.delay(2) <= 0.8 for _ in range(200))
