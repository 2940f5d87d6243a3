"""The retry decision as AWS documents it (pure function, no server)."""

from __future__ import annotations

import pytest

from overlord_local.localbatch.retry import should_retry


@pytest.mark.parametrize(
    ("strategy", "attempt", "exit_code", "reason", "status_reason", "expected"),
    [
        ({}, 1, 1, None, None, False),
        ({"attempts": 2}, 1, 1, None, None, True),
        ({"attempts": 2}, 2, 1, None, None, False),
        (
            {"attempts": 3, "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}]},
            1,
            2,
            None,
            None,
            False,
        ),
        (
            {"attempts": 3, "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}]},
            1,
            1,
            None,
            None,
            True,
        ),
        (
            {"attempts": 3, "evaluateOnExit": [{"onExitCode": "2*", "action": "exit"}]},
            1,
            137,
            None,
            None,
            True,
        ),
        (
            {"attempts": 3, "evaluateOnExit": [{"onExitCode": "13*", "action": "exit"}]},
            1,
            137,
            None,
            None,
            False,
        ),
        (
            {
                "attempts": 3,
                "evaluateOnExit": [
                    {"onReason": "OutOfMemoryError*", "action": "RETRY"},
                    {"onExitCode": "*", "action": "EXIT"},
                ],
            },
            1,
            137,
            "OutOfMemoryError: Container killed due to memory usage",
            None,
            True,
        ),
        (
            {
                "attempts": 3,
                "evaluateOnExit": [
                    {"onReason": "OutOfMemoryError*", "action": "RETRY"},
                    {"onExitCode": "*", "action": "EXIT"},
                ],
            },
            1,
            1,
            None,
            "Essential container in task exited",
            False,
        ),
        (
            {
                "attempts": 3,
                "evaluateOnExit": [
                    {"onStatusReason": "Host EC2*", "onExitCode": "1", "action": "RETRY"},
                    {"onReason": "*", "action": "EXIT"},
                ],
            },
            1,
            1,
            None,
            "Essential container in task exited",
            True,
        ),
    ],
)
def test_should_retry(
    strategy: dict[str, object],
    attempt: int,
    exit_code: int,
    reason: str | None,
    status_reason: str | None,
    expected: bool,
) -> None:
    assert should_retry(strategy, attempt, exit_code, reason, status_reason) is expected
