"""The read side of the API: jobs, runs and log lines, shaped for clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overlord.errors import InvalidRequest, JobNotFound
from overlord.views import job_view, log_view, run_view

MAX_LOG_PAGE = 1000


@dataclass(frozen=True)
class LogQuery:
    run_id: str | None = None
    offset: int = 0
    limit: int = 200
    kinds: tuple[str, ...] = ()


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}: must be an integer") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}")
    return value


def parse_log_query(params: dict[str, str]) -> LogQuery:
    kinds = tuple(k for k in (params.get("kind") or "").split(",") if k)
    return LogQuery(
        run_id=params.get("run") or None,
        offset=_int_param(params, "offset", 0, 0, 10**9),
        limit=_int_param(params, "limit", 200, 1, MAX_LOG_PAGE),
        kinds=kinds,
    )


def _job(store: Any, job_id: str) -> dict[str, Any]:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def job_with_latest_run(store: Any, job_id: str) -> dict[str, Any]:
    job = _job(store, job_id)
    view = job_view(job)
    latest = job.get("latest_run") or {}
    run = store.get_run(latest["run_id"]) if latest.get("run_id") else None
    view["latest_run"] = run_view(run) if run else view.get("latest_run")
    return view


def runs_of(store: Any, job_id: str) -> dict[str, Any]:
    _job(store, job_id)
    return {"job_id": job_id, "runs": [run_view(r) for r in store.list_runs(job_id)]}


def logs_of(store: Any, job_id: str, query: LogQuery) -> dict[str, Any]:
    _job(store, job_id)
    lines = store.list_logs(job_id, query.run_id, query.offset, query.limit, query.kinds)
    next_offset = query.offset + len(lines) if len(lines) == query.limit else None
    return {"job_id": job_id, "lines": [log_view(x) for x in lines], "next_offset": next_offset}
