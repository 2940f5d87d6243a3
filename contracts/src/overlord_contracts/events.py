"""The EventBridge pattern of the Batch events the recorder takes: batch-event-pattern.json,
a template that Terraform's events module renders with ``templatefile`` and the local
event router with `load_batch_pattern`."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

from overlord_contracts.files import EVENT_PATTERN_FILE


def load_batch_pattern(job_queue_arn: str, path: str | Path | None = None) -> dict[str, Any]:
    """The Batch rule's pattern with ``${job_queue_arn}`` filled in."""
    text = Path(path or EVENT_PATTERN_FILE).read_text(encoding="utf-8")
    pattern: dict[str, Any] = json.loads(Template(text).substitute(job_queue_arn=job_queue_arn))
    return pattern


def batch_event_kind() -> tuple[str, str]:
    """(source, detail-type) of the events the rule takes: what the local Batch emits."""
    pattern = load_batch_pattern("")
    return pattern["source"][0], pattern["detail-type"][0]
