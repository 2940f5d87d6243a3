import pytest

from overlord.domain.status import (
    IN_FLIGHT,
    JOB_STATUSES,
    RERUNNABLE,
    RunStatus,
    is_terminal,
    moves_forward,
    rank,
)


def test_order_is_aws_batch_order():
    assert [s.value for s in RunStatus] == [
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    ]
    ranks = [rank(s) for s in RunStatus]
    assert ranks == sorted(ranks)
    assert rank("SUCCEEDED") == rank("FAILED") == max(ranks)


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        (None, "RUNNING", True),
        ("SUBMITTED", "PENDING", True),
        ("RUNNABLE", "RUNNING", True),  # skipping states is fine
        ("RUNNING", "RUNNING", False),
        ("SUCCEEDED", "RUNNING", False),  # hyp3 #1539
        ("FAILED", "SUCCEEDED", False),
        ("SUCCEEDED", "FAILED", False),
        ("RUNNING", "FAILED", True),
    ],
)
def test_status_only_moves_forward(current, new, expected):
    assert moves_forward(current, new) is expected


def test_terminal_and_rerun_rules():
    assert is_terminal("SUCCEEDED") and is_terminal("FAILED")
    assert not is_terminal("RUNNING")
    assert {"SUCCEEDED", "FAILED", "SUBMIT_FAILED"} == RERUNNABLE
    assert set(IN_FLIGHT) == set(JOB_STATUSES) - RERUNNABLE
    assert "SUBMITTING" in IN_FLIGHT and "RUNNING" in IN_FLIGHT


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError, match="unknown run status"):
        rank("EXPLODED")
