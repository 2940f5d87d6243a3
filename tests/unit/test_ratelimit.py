import pytest

from overlord.adapters.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_passes_at_once_then_callers_queue_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=50, burst=50, clock=clock, sleep=clock.sleep)
    assert all(bucket.acquire(max_wait=0) for _ in range(50))
    assert clock.slept == []
    assert bucket.acquire(max_wait=1)
    assert clock.slept == [pytest.approx(0.02)]


def test_a_wait_longer_than_allowed_is_refused_with_a_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(max_wait=0)
    assert not bucket.acquire(max_wait=0.1)
    assert bucket.retry_after() == 1
    clock.now += 0.5
    assert bucket.acquire(max_wait=0)


def test_over_a_long_run_the_rate_holds() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=50, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(505):
        assert bucket.acquire(max_wait=10)
    assert clock.now == pytest.approx(500 / 50)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
