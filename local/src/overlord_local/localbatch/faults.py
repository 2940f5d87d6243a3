"""Injected SubmitJob failures, for testing a caller's handling of AWS's bad days.

``SubmitFaults(rate, kinds, seed)``: each SubmitJob call fails with probability ``rate``,
the kind chosen uniformly from ``kinds``, both drawn from ``random.Random(seed)`` (one
draw sequence per server, in call order, so a seed replays the same choices for the
same sequence of calls). Kinds:

* ``throttle`` — ``TooManyRequestsException``, HTTP 429; no job is created.
* ``5xx`` — ``ServerException``, HTTP 500, before anything is created.
* ``5xx-lost`` — the job **is** created and runs (events and all), but the caller gets a
  ``ServerException`` (HTTP 500) instead of the answer, as when the response is lost on
  the way back. SubmitJob is not idempotent: a caller that simply retries now has two jobs.

Only SubmitJob is affected, and only calls that draw a fault: a request refused by
validation still gets its ``ClientException``. botocore retries 429 and 500 by
default, so tests that want to see the error turn retries off
(``Config(retries={"mode": "standard", "total_max_attempts": 1})``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

THROTTLE = "throttle"
SERVER_ERROR = "5xx"
SERVER_ERROR_AFTER_CREATE = "5xx-lost"
KINDS = (THROTTLE, SERVER_ERROR, SERVER_ERROR_AFTER_CREATE)
DEFAULT_KINDS = (THROTTLE, SERVER_ERROR)


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"throttle,5xx"`` → ``("throttle", "5xx")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


class SubmitFaults:
    def __init__(
        self, rate: float = 0.0, kinds: Iterable[str] = DEFAULT_KINDS, seed: int | None = None
    ) -> None:
        self.rate = float(rate)
        self.kinds = tuple(kinds)
        self.seed = seed
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"the fault rate must be between 0 and 1, got {rate}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kind(s) {unknown or '(none given)'}; known: {KINDS}")
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault for this call, or None."""
        with self._lock:
            if self.rate <= 0.0 or self._random.random() >= self.rate:
                return None
            return self._random.choice(self.kinds)

    def __repr__(self) -> str:
        return f"SubmitFaults(rate={self.rate}, kinds={self.kinds}, seed={self.seed})"
