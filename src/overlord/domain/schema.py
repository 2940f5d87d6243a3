"""The three collections: names, document shapes, indexes and internal fields.

docs/design.md, "Documents", says why they look as they do.

The one place that knows what a stored document looks like. The MongoDB store writes
these shapes; the views read them; nothing else spells a collection or index name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict

from overlord.domain.fieldnames import escape_document
from overlord.domain.request import JobRequest
from overlord.domain.status import SUBMITTING, TERMINAL, RunStatus, rank

JOBS = "jobs"
RUNS = "runs"
LOGS = "logs"
# An array job's items, one document per job (`_id` = job_id): kept out of `jobs` so that
# listing and scanning jobs never loads up to 4 MiB of items per array job.
ITEMS = "items"

JSON = str | int | float | bool | None | list["JSON"] | dict[str, "JSON"]

# Bookkeeping the store keeps on documents; never shown to clients.
INTERNAL_FIELDS = frozenset(
    {
        "status_rank",
        "attempts_rank",
        "logs_copied",
        "logs_settled",
        "reconciled_at",
        "submit_failures",
        "claim",
        "selection",
    }
)


class LatestRun(TypedDict):
    batch_job_id: str
    run: int
    status: str
    status_rank: int


class ResultSummary(TypedDict):
    uri: str
    size: int
    summary: NotRequired[JSON]
    truncated: NotRequired[bool]
    error: NotRequired[str]


class Claim(TypedDict):
    """Who is submitting the job to Batch, and until when the claim holds."""

    owner: str
    expires_at: datetime


class JobDocument(TypedDict):
    _id: str  # job_id
    task: str
    parameters: dict[str, JSON] | None  # field names escaped (fieldnames.py); None: an array job
    items_count: NotRequired[int]  # an array job: how many items (`items` holds them)
    key: str | None
    tags: dict[str, str]  # escaped likewise
    attempts: int
    timeout_seconds: int | None
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    run_count: int
    latest_run: LatestRun | None
    result: ResultSummary | None
    claim: NotRequired[Claim | None]
    # The items the run being submitted runs (a re-run of the failed ones), kept until
    # it is recorded: a submission whose answer was lost is adopted with them.
    selection: NotRequired[list[int] | None]
    reconciled_at: NotRequired[datetime | None]
    # How many times a submission of this job failed: which failure reconcile looked at.
    submit_failures: NotRequired[int]
    created_by: NotRequired[str | None]  # the caller (IAM principal, or the local access key)


class ItemsDocument(TypedDict):
    """An array job's input: one parameters object per child, in index order."""

    _id: str  # job_id
    items: list[dict[str, JSON]]  # field names escaped (fieldnames.py)


class ArrayRun(TypedDict):
    """On an array job's parent run: its size and Batch's last count of its children."""

    size: int
    # A re-run of some items (arrays.py): child i ran item indices[i]; absent: item i.
    indices: NotRequired[list[int]]
    # Batch's arrayProperties.statusSummary (status -> children), as of the parent's
    # latest status event; GET /jobs/{id} counts the recorded children instead.
    status_summary: NotRequired[dict[str, int] | None]
    status_summary_at: NotRequired[datetime | None]
    # How many children's endings are recorded: the job ends with the parent only once
    # they all are (MongoStore._child_ended).
    ended: NotRequired[int]


class AttemptDocument(TypedDict):
    attempt: int  # 1-based
    started_at: datetime | None
    stopped_at: datetime | None
    exit_code: int | None
    reason: str | None
    log_stream: str | None


class CancelRequest(TypedDict):
    """A cancel asked of a run; Batch's events then bring its final state."""

    at: datetime
    by: str | None
    reason: str
    action: str  # "CancelJob" (not started yet) or "TerminateJob"


class RunDocument(TypedDict):
    _id: str  # batch_job_id
    job_id: str
    run: int | None  # None only while an event has raced ahead of the submitter
    status: str | None
    status_rank: int
    status_reason: str | None
    status_history: dict[str, datetime]  # status -> earliest time observed
    attempts: list[AttemptDocument]
    # The current (latest) attempt's stream, as Batch names it while the attempt runs.
    log_stream: NotRequired[str | None]
    attempts_rank: int
    job_queue: str | None
    job_definition: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    updated_at: datetime
    result_uri: str | None
    result: ResultSummary | None
    logs_copied: bool
    cancel: NotRequired[CancelRequest]
    # False until reconcile has re-read the streams after lines had time to arrive
    logs_settled: bool
    # Array jobs. The parent run (what `latest_run` points to) has `array`; each child is a
    # run document of its own, `_id` = Batch's `<parent>:<index>`, with `parent` (the
    # parent's batch_job_id) and `index`, and `run` None (its parent's number applies).
    array: NotRequired[ArrayRun]
    parent: NotRequired[str]
    index: NotRequired[int]
    # A re-run of one item of an array job: a plain Batch job running that item.
    item: NotRequired[int]


class LogKind:
    SUBMISSION = "submission"
    STATE = "state"
    LOG = "log"
    RESULT = "result"


class LogPhase:
    """Where a line stands in a run's reading order: the submission, the states up to
    RUNNING, the attempts' lines, the terminal state, the result. Times cannot give this
    order (states are dated to the second), so it is stored with each line."""

    SUBMISSION = 0
    STATE = 1
    LOG = 2
    END = 3
    RESULT = 4


def log_phase(kind: str, status: str | None) -> int:
    if kind == LogKind.SUBMISSION:
        return LogPhase.SUBMISSION
    if kind == LogKind.RESULT:
        return LogPhase.RESULT
    if kind == LogKind.STATE:
        return LogPhase.END if status in TERMINAL else LogPhase.STATE
    return LogPhase.LOG


class LogDocument(TypedDict):
    # Only state lines name their own (`state_line_id`): the recorder and the submitter
    # may both write one, and the earlier time must win, found by `_id` (an `_id`
    # equality is the one filter FerretDB answers from an index). Other lines get
    # MongoDB's ObjectId; the unique index on their identity keeps them single.
    _id: NotRequired[str]
    job_id: str
    batch_job_id: str
    run: NotRequired[int | None]
    phase: int  # LogPhase; with attempt and seq, the line's place within its run
    attempt: int
    kind: str
    seq: int
    ts: datetime
    message: str
    status: NotRequired[str]
    truncated: NotRequired[bool]


@dataclass(frozen=True)
class Index:
    collection: str
    keys: tuple[tuple[str, int], ...]  # (field, 1 | -1)
    name: str
    unique: bool = False


ASC, DESC = 1, -1
INDEXES: tuple[Index, ...] = (
    Index(JOBS, (("status", ASC), ("updated_at", ASC)), "status_updated"),
    # GET /jobs: newest first, keyset on (created_at, _id), optionally by status or task.
    Index(JOBS, (("created_at", DESC), ("_id", DESC)), "newest"),
    Index(JOBS, (("status", ASC), ("created_at", DESC), ("_id", DESC)), "status_newest"),
    Index(JOBS, (("task", ASC), ("created_at", DESC), ("_id", DESC)), "task_newest"),
    Index(RUNS, (("job_id", ASC), ("run", ASC)), "job_run"),
    Index(RUNS, (("status", ASC),), "status"),
    Index(RUNS, (("logs_settled", ASC), ("status", ASC)), "settling"),
    # An array run's children by status (GET /jobs/{id}'s counts, reconcile's repair).
    Index(RUNS, (("parent", ASC), ("status", ASC)), "children"),
    Index(
        LOGS,
        (("batch_job_id", ASC), ("attempt", ASC), ("kind", ASC), ("seq", ASC)),
        "line_identity",
        unique=True,
    ),
    Index(LOGS, (("job_id", ASC), ("ts", ASC)), "job_ts"),
    # GET /jobs/{job_id}/logs reads one run at a time in reading order.
    Index(LOGS, (("batch_job_id", ASC), ("phase", ASC), ("attempt", ASC), ("seq", ASC)), "reading"),
)


def new_job(request: JobRequest, now: datetime, created_by: str | None = None) -> JobDocument:
    job: JobDocument = {
        "_id": request.job_id,
        "task": request.task,
        "parameters": None if request.is_array else escape_document(request.parameters),
        "key": request.key,
        "tags": escape_document(request.tags),
        # The submit service fills both in from the task (`services.submit.admit`).
        "attempts": request.attempts or 1,
        "timeout_seconds": request.timeout_seconds,
        "status": SUBMITTING,
        "status_reason": None,
        "created_at": now,
        "updated_at": now,
        "run_count": 0,
        "latest_run": None,
        "result": None,
        "created_by": created_by,
    }
    if request.items is not None:
        job["items_count"] = len(request.items)
    return job


def new_items(request: JobRequest) -> ItemsDocument:
    assert request.items is not None, "an array request"
    return {"_id": request.job_id, "items": escape_document(request.items)}


def new_run(
    *,
    batch_job_id: str,
    job_id: str,
    run_number: int | None,
    at: datetime,
    job_queue: str | None = None,
    job_definition: str | None = None,
    parent: str | None = None,
    index: int | None = None,
) -> RunDocument:
    """A run before any status is applied; `status_rank` 0 lets the first status move it.

    `parent` and `index`: a child of an array run."""
    doc: RunDocument = {
        "_id": batch_job_id,
        "job_id": job_id,
        "run": run_number,
        "status": None,
        "status_rank": 0,
        "status_reason": None,
        "status_history": {},
        "attempts": [],
        "attempts_rank": 0,
        "job_queue": job_queue,
        "job_definition": job_definition,
        "created_at": at,
        "started_at": None,
        "stopped_at": None,
        "updated_at": at,
        "result_uri": None,
        "result": None,
        "logs_copied": False,
        "logs_settled": False,
    }
    if parent is not None and index is not None:
        doc["parent"], doc["index"] = parent, index
    return doc


def latest_run(batch_job_id: str, run_number: int, status: str) -> LatestRun:
    return {
        "batch_job_id": batch_job_id,
        "run": run_number,
        "status": status,
        "status_rank": rank(status),
    }


def log_record(
    *,
    job_id: str,
    batch_job_id: str,
    attempt: int,
    kind: str,
    seq: int,
    ts: datetime,
    message: str,
    run_number: int | None = None,
    status: str | None = None,
    truncated: bool = False,
) -> LogDocument:
    doc: LogDocument = {
        "job_id": job_id,
        "batch_job_id": batch_job_id,
        "attempt": attempt,
        "kind": kind,
        "phase": log_phase(kind, status),
        "seq": seq,
        "ts": ts,
        "message": message,
    }
    if run_number is not None:
        doc["run"] = run_number
    if status is not None:
        doc["status"] = status
    if truncated:
        doc["truncated"] = True
    return doc


def state_record(
    job_id: str, batch_job_id: str, status: str, at: datetime, reason: str | None
) -> LogDocument:
    """One `state` line per status a run reached; its seq is the status rank, so it is unique.

    A status may be observed more than once (the submitter and the event both see
    SUBMITTED; a retried job is RUNNABLE again): the line keeps the earliest time
    (`Store.append_logs`), as the run's `status_history` does.
    """
    message = status if not reason else f"{status}: {reason}"
    seq = rank(status) if status != RunStatus.FAILED else rank(status) + 1
    line = log_record(
        job_id=job_id,
        batch_job_id=batch_job_id,
        attempt=0,
        kind=LogKind.STATE,
        seq=seq,
        ts=at,
        message=message,
        status=status,
    )
    line["_id"] = state_line_id(batch_job_id, seq)
    return line


def state_line_id(batch_job_id: str, seq: int) -> str:
    return f"{batch_job_id}:{LogKind.STATE}:{seq}"
