"""Waiting on a condition by polling it: the tests' one way to wait, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.02,
) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail the
    test after ``timeout`` seconds, naming ``what`` was awaited.

    The default deadline is generous on purpose: a passing test returns as soon as the
    event happens, and a 2-core machine running the suite on four workers beside other
    work took more than 10 s for a local Batch job to start (the earlier default)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)
