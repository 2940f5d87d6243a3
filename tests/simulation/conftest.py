"""What the simulator's tests record on their reports (printed by tests/conftest.py)."""

from __future__ import annotations

PROPERTY = "simulated histories"  # the user property holding a seed line
