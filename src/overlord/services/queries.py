"""The read side of the API: jobs, runs and log lines, shaped for clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from overlord.errors import InvalidRequest, JobNotFound
from overlord.ports import Store
from overlord.schema import JobDocument, LogKind
from overlord.views import View, job_view, log_view, run_view

MAX_LOG_PAGE = 1000
LOG_KINDS = (LogKind.SUBMISSION, LogKind.STATE, LogKind.LOG, LogKind.RESULT)


@dataclass(frozen=True)
class LogQuery:
    run: int | None = None  # the run number; None: every run
    offset: int = 0
    limit: int = 200
    kinds: tuple[str, ...] = ()


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
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


def parse_log_query(params: Mapping[str, str]) -> LogQuery:
    kinds = tuple(k for k in (params.get("kind") or "").split(",") if k)
    unknown = [k for k in kinds if k not in LOG_KINDS]
    if unknown:
        raise InvalidRequest(f"kind: {unknown[0][:40]!r} is not one of {', '.join(LOG_KINDS)}")
    return LogQuery(
        run=_int_param(params, "run", 0, 1, 10**9) if "run" in params else None,
        offset=_int_param(params, "offset", 0, 0, 10**9),
        limit=_int_param(params, "limit", 200, 1, MAX_LOG_PAGE),
        kinds=kinds,
    )


def _job(store: Store, job_id: str) -> JobDocument:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def job_with_latest_run(store: Store, job_id: str) -> View:
    job = _job(store, job_id)
    view = job_view(job)
    latest = job["latest_run"]
    run = store.get_run(latest["batch_job_id"]) if latest else None
    if run is not None:
        view["latest_run"] = run_view(run)
    return view


def runs_of(store: Store, job_id: str) -> View:
    _job(store, job_id)
    return {"job_id": job_id, "runs": [run_view(r) for r in store.list_runs(job_id)]}


def logs_of(store: Store, job_id: str, query: LogQuery) -> View:
    _job(store, job_id)
    batch_job_id = None
    if query.run is not None:
        runs = [r for r in store.list_runs(job_id) if r["run"] == query.run]
        if not runs:
            raise InvalidRequest(f"run: job {job_id} has no run {query.run}")
        batch_job_id = runs[0]["_id"]
    lines = store.list_logs(job_id, batch_job_id, query.offset, query.limit, query.kinds)
    next_offset = query.offset + len(lines) if len(lines) == query.limit else None
    return {"job_id": job_id, "lines": [log_view(x) for x in lines], "next_offset": next_offset}
