import pytest

from overlord.status import (
    RUN_STATUS_ORDER,
    can_start_new_run,
    is_terminal,
    moves_forward,
    rank,
)


def test_order_is_aws_batch_order():
    assert [s.value for s in RUN_STATUS_ORDER] == [
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    ]
    ranks = [rank(s) for s in RUN_STATUS_ORDER]
    assert ranks == sorted(ranks)


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
    assert can_start_new_run("SUCCEEDED") and can_start_new_run("SUBMIT_FAILED")
    assert not can_start_new_run("RUNNING") and not can_start_new_run("SUBMITTING")


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError, match="unknown run status"):
        rank("EXPLODED")
