"""What the API returns for stored documents: original field names, ISO-8601 times."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from overlord.domain.fieldnames import unescape_document
from overlord.domain.schema import INTERNAL_FIELDS, JobDocument, LogDocument, RunDocument
from overlord.domain.status import rank

View = dict[str, object]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if k not in INTERNAL_FIELDS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fields(document: Mapping[str, object], *leave_out: str) -> View:
    plain = _plain({k: v for k, v in document.items() if k not in leave_out})
    assert isinstance(plain, dict)
    return plain


def job_view(job: JobDocument) -> View:
    return {
        "job_id": job["_id"],
        **_fields(job, "_id"),
        "parameters": unescape_document(job["parameters"]),
        "tags": unescape_document(job["tags"]),
    }


def run_view(run: RunDocument) -> View:
    history = sorted(run["status_history"].items(), key=lambda kv: (rank(kv[0]), kv[1]))
    return {
        "batch_job_id": run["_id"],
        **_fields(run, "_id", "status_history"),
        "status_history": [{"status": s, "at": _plain(at)} for s, at in history],
    }


def log_view(line: LogDocument, run_number: int | None = None) -> View:
    view = _fields(line, "_id", "phase")
    view["run"] = run_number if run_number is not None else line.get("run")
    return view
