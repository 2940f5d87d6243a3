"""Where the contract files lie: package data in a built wheel (the images), else the
repository's top-level ``contracts/`` (an editable install); ``OVERLORD_CONTRACTS_DIR``
points elsewhere (the devtools image mounts them)."""

from __future__ import annotations

import os
from pathlib import Path


def _contracts_dir() -> Path:
    if os.environ.get("OVERLORD_CONTRACTS_DIR"):
        return Path(os.environ["OVERLORD_CONTRACTS_DIR"])
    here = Path(__file__).resolve().parent
    return here if (here / "tasks").is_dir() else here.parents[1]


CONTRACTS_DIR = _contracts_dir()
TASKS_DIR = CONTRACTS_DIR / "tasks"  # the task catalogue (overlord_contracts.catalogue)
EVENT_PATTERN_FILE = CONTRACTS_DIR / "batch-event-pattern.json"
