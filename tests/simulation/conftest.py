"""Print the simulator's seeds, so that any CI run can be replayed."""

from __future__ import annotations

from typing import Any

PROPERTY = "simulated histories"  # what test_histories.py records for each seed


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # From the reports, not from test_histories.SEEDS: under pytest-xdist the tests run
    # in the workers, and only their reports (with their user properties) come back.
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == PROPERTY and getattr(report, "when", "call") == "call":
                    terminalreporter.write_line(f"{PROPERTY}, {value}")
