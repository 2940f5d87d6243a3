"""A token bucket: at most `rate` acquisitions per second on average, bursts up to `burst`.

AWS Batch accepts 50 SubmitJob calls per second per account; beyond that it throttles.
Each submitter process paces itself with one bucket so that a burst waits a moment
instead of failing, and gives up (503 + Retry-After) when the wait would be too long.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = burst
        self._updated = clock()
        self._lock = threading.Lock()

    def _reserve(self, max_wait: float) -> float | None:
        """Take a token now or in the future; how long to wait for it, or None (too long)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = max(0.0, (1 - self._tokens) / self.rate)
            if wait > max_wait:
                return None
            self._tokens -= 1  # may go negative: later callers queue behind this one
            return wait

    def acquire(self, max_wait: float) -> bool:
        wait = self._reserve(max_wait)
        if wait is None:
            return False
        if wait > 0:
            self._sleep(wait)
        return True

    def retry_after(self) -> int:
        """Whole seconds until a token is free again (for Retry-After)."""
        with self._lock:
            return max(1, math.ceil((1 - self._tokens) / self.rate))
