"""``Batch Job State Change`` events with the envelope EventBridge delivers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from overlord_contracts.events import batch_event_kind

SOURCE, DETAIL_TYPE = batch_event_kind()


def state_change_event(
    detail: dict[str, Any], region: str, account: str, when: datetime | None = None
) -> dict[str, Any]:
    """Wrap a ``JobDetail`` as AWS Batch does; ``detail`` is used as given (pass a copy)."""
    when = when or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [detail["jobArn"]],
        "detail": detail,
    }
