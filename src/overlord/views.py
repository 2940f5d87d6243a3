"""What the API returns for stored documents: original field names, ISO-8601 times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overlord.fieldnames import unescape_document
from overlord.status import rank

_INTERNAL = {"status_rank", "attempts_rank", "logs_copied", "reconciled_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _INTERNAL}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    view = _plain({k: v for k, v in job.items() if k != "_id"})
    view = {"job_id": job["_id"], **view}
    view["parameters"] = unescape_document(job.get("parameters") or {})
    view["tags"] = unescape_document(job.get("tags") or {})
    return view


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    history = sorted((run.get("status_history") or {}).items(), key=lambda kv: (rank(kv[0]), kv[1]))
    view = _plain({k: v for k, v in run.items() if k not in {"_id", "status_history"}})
    return {
        "run_id": run["_id"],
        "batch_job_id": run["_id"],
        **view,
        "status_history": [{"status": s, "at": _plain(at)} for s, at in history],
    }


def log_view(line: dict[str, Any]) -> dict[str, Any]:
    return _plain({k: v for k, v in line.items() if k != "_id"})
