"""Print the simulator's seeds, so that any CI run can be replayed."""

from __future__ import annotations

from typing import Any

from tests.simulation.test_histories import SEEDS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SEEDS:
        terminalreporter.write_line(f"simulated histories, {line}")
