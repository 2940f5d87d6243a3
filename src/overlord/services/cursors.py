"""Opaque page cursors for GET /jobs and GET /jobs/{job_id}/logs.

A cursor is the keyset position of the last item a page returned (never an offset),
so a page continues right after it whatever was inserted meanwhile: no duplicates and
no gaps. It is base64url JSON, versioned; clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from overlord.domain.errors import InvalidRequest
from overlord.ports import JobKey, LogKey

_VERSION = 1


def _encode(fields: dict[str, Any]) -> str:
    raw = json.dumps({"v": _VERSION, **fields}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(fields, dict) or fields.get("v") != _VERSION or fields.get("k") != kind:
            raise ValueError
        return fields
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None


def job_cursor(key: JobKey) -> str:
    millis = int(key.created_at.timestamp() * 1000)
    return _encode({"k": "jobs", "t": millis, "id": key.job_id})


def parse_job_cursor(cursor: str) -> JobKey:
    fields = _decode(cursor, "jobs")
    try:
        at = datetime.fromtimestamp(int(fields["t"]) / 1000, UTC)
        return JobKey(created_at=at, job_id=str(fields["id"]))
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None


def log_cursor(batch_job_id: str, key: LogKey) -> str:
    return _encode({"k": "logs", "r": batch_job_id, "p": key.phase, "a": key.attempt, "s": key.seq})


def parse_log_cursor(cursor: str) -> tuple[str, LogKey]:
    fields = _decode(cursor, "logs")
    try:
        key = LogKey(phase=int(fields["p"]), attempt=int(fields["a"]), seq=int(fields["s"]))
        return str(fields["r"]), key
    except (KeyError, TypeError, ValueError):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None
