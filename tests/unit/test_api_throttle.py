"""emulation.apigateway.throttle: usage-plan token bucket and quota, on a fake clock."""

from emulation.apigateway.throttle import PlanLimits, UsagePlanLimiter, Verdict, quota_window


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_burst_then_steady_rate():
    clock = Clock()
    limiter = UsagePlanLimiter(clock=clock, wall_clock=clock)
    limits = PlanLimits(rate_limit=2, burst_limit=3)
    assert [limiter.admit("k", limits) for _ in range(4)] == [Verdict.ALLOWED] * 3 + [Verdict.THROTTLED]
    clock.t += 0.5  # one token at 2/s
    assert limiter.admit("k", limits) is Verdict.ALLOWED
    assert limiter.admit("k", limits) is Verdict.THROTTLED
    clock.t += 100  # refills up to the burst, never above
    assert [limiter.admit("k", limits) for _ in range(4)].count(Verdict.ALLOWED) == 3


def test_keys_have_separate_buckets():
    clock = Clock()
    limiter = UsagePlanLimiter(clock=clock, wall_clock=clock)
    limits = PlanLimits(rate_limit=1, burst_limit=1)
    assert limiter.admit("a", limits) is Verdict.ALLOWED
    assert limiter.admit("a", limits) is Verdict.THROTTLED
    assert limiter.admit("b", limits) is Verdict.ALLOWED


def test_quota_per_day_resets_at_the_next_utc_day_and_throttled_requests_use_none():
    clock = Clock(t=1_700_000_000.0)  # 2023-11-14T22:13:20Z
    limiter = UsagePlanLimiter(clock=clock, wall_clock=clock)
    limits = PlanLimits(rate_limit=1, burst_limit=1, quota_limit=2, quota_period="DAY")
    assert limiter.admit("k", limits) is Verdict.ALLOWED
    assert limiter.admit("k", limits) is Verdict.THROTTLED
    clock.t += 1
    assert limiter.admit("k", limits) is Verdict.ALLOWED
    clock.t += 1
    assert limiter.admit("k", limits) is Verdict.QUOTA_EXCEEDED
    assert limiter.remaining_quota("k") == 0
    clock.t += 2 * 3600  # past midnight UTC
    assert limiter.admit("k", limits) is Verdict.ALLOWED


def test_quota_windows():
    t = 1_700_000_000.0
    assert quota_window("DAY", t) == "2023-11-14"
    assert quota_window("WEEK", t) == "2023-W46"
    assert quota_window("MONTH", t) == "2023-11"
