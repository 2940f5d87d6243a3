"""The shared contract files (the repository's ``contracts/``), as the local stack reads them.

The local stack and the product meet only here: the same files Terraform reads.
``OVERLORD_CONTRACTS_DIR`` points elsewhere (the devtools image mounts them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CONTRACTS_DIR = Path(
    os.environ.get("OVERLORD_CONTRACTS_DIR") or Path(__file__).resolve().parents[3] / "contracts"
)
JOB_DEFINITIONS_FILE = CONTRACTS_DIR / "job-definitions.json"
EVENT_PATTERN_FILE = CONTRACTS_DIR / "batch-event-pattern.json"


def batch_event_kind() -> tuple[str, str]:
    """(source, detail-type) of the events the rule takes: what the local Batch emits."""
    pattern = json.loads(EVENT_PATTERN_FILE.read_text())
    return pattern["source"][0], pattern["detail-type"][0]
