"""The read side of the API: jobs, runs and log lines, shaped for clients."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from overlord.domain import arrays
from overlord.domain.clock import utcnow
from overlord.domain.errors import InvalidRequest, JobNotFound, TaskNotFound
from overlord.domain.schema import JobDocument, LogDocument, LogKind, RunDocument
from overlord.domain.status import RunStatus
from overlord.domain.views import View, job_view, log_view, run_view
from overlord.ports import JobFilter, JobKey, LogFilter, LogStreams, Store
from overlord.services import cursors
from overlord.services.record import stream_lines
from overlord.services.submit import run_children
from overlord_contracts.catalogue import Catalogue

MAX_JOB_PAGE = 100
DEFAULT_JOB_PAGE = 20
MAX_LOG_PAGE = 1000
DEFAULT_LOG_PAGE = 200


@dataclass(frozen=True)
class LogQuery:
    run_number: int | None = None  # None: every run, in run order
    where: LogFilter = field(default_factory=LogFilter)
    cursor: str | None = None
    limit: int = DEFAULT_LOG_PAGE
    index: int | None = None  # an array job: that child's lines (of each run asked for)


def _job(store: Store, job_id: str) -> JobDocument:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def job_with_latest_run(
    store: Store, job_id: str, index: int | None = None, children: bool = False
) -> View:
    """The job and its latest run; for an array job also `array` (its items counted by
    their latest outcome, and the items that failed), and with `index` that item's run
    (the child of the latest run that ran it). With `children`, `array.statuses` too:
    each item's latest status, by index (what the console's grid draws)."""
    job = _job(store, job_id)
    _check_index(job, index)
    view = job_view(job)
    latest = job["latest_run"]
    run = store.get_run(latest["batch_job_id"]) if latest else None
    if run is not None:
        view["latest_run"] = run_view(run)
    if "items_count" in job:
        runs = _in_run_order(store, job_id)
        size = job["items_count"]
        if not children and _one_run_of_every_item(runs, size):
            # The usual case, counted without reading each child (10,000 of them cost
            # FerretDB seconds): only the failed ones are read, for their indices.
            parent = runs[0]["_id"]
            failed = [c.index for c in store.children(parent, RunStatus.FAILED.value)]
            array = counted_array_view(size, store.count_children(parent), failed)
        else:
            outcomes = arrays.latest_outcomes([(r, run_children(store, r)) for r in runs])
            array = array_view(size, outcomes)
            if children:
                array["statuses"] = [
                    outcomes.get(i) or RunStatus.SUBMITTED.value for i in range(size)
                ]
        view["array"] = array
        if index is not None:
            view["child"] = _child_view(store, runs, index)
    return view


def _one_run_of_every_item(runs: list[RunDocument], size: int) -> bool:
    """The job has one run, an array of all its items: each item's outcome is its
    child's (no re-run overwrote any)."""
    if len(runs) != 1:
        return False
    array = runs[0].get("array")
    return array is not None and "indices" not in array and array["size"] == size


def array_view(size: int, outcomes: dict[int, str | None]) -> View:
    """Counts per status over all `size` items (those no run has told us of yet are
    SUBMITTED, as Batch creates its children), and the failed items, ascending."""
    counts = Counter(status for status in outcomes.values() if status)
    failed = [item for item, status in outcomes.items() if status == RunStatus.FAILED]
    return counted_array_view(size, counts, failed)


def counted_array_view(size: int, counts: Mapping[str, int], failed: Iterable[int]) -> View:
    """`array_view` from the counts of the items heard of, by status."""
    counted = Counter(counts)
    unheard = size - sum(counted.values())
    if unheard > 0:
        counted[RunStatus.SUBMITTED.value] += unheard
    return {"size": size, "counts": dict(sorted(counted.items())), "failed_indices": sorted(failed)}


def _child_view(store: Store, runs: list[RunDocument], index: int) -> View | None:
    """The run of item `index` in the latest run that ran it; a stub before any event."""
    for run in reversed(runs):
        source = arrays.source_of(run, index)
        if source is None:
            continue
        child = store.get_run(source)
        if child is None:
            return {"batch_job_id": source, "index": index, "status": None}
        return run_view(child)
    return None


def _check_index(job: JobDocument, index: int | None) -> None:
    """`?index=` names a child: only of an array job, and within its items."""
    if index is None:
        return
    size = job.get("items_count")
    if size is None:
        raise InvalidRequest(f"index: job {job['_id']} is not an array job (it has no items)")
    if not 0 <= index < size:
        raise InvalidRequest(
            f"index: {index} is outside job {job['_id']}'s items (0 to {size - 1})"
        )


def list_jobs(store: Store, where: JobFilter, cursor: str | None, limit: int) -> View:
    """Newest first; `next` continues after this page's last job, or is None at the end."""
    after = cursors.parse_job_cursor(cursor) if cursor else None
    found = store.list_jobs(where, after, limit + 1)
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = cursors.job_cursor(JobKey(last["created_at"], last["_id"]))
    return {"jobs": [job_view(j) for j in page], "next": next_cursor}


def runs_of(store: Store, job_id: str) -> View:
    _job(store, job_id)
    return {"job_id": job_id, "runs": [run_view(r) for r in _in_run_order(store, job_id)]}


def _in_run_order(store: Store, job_id: str) -> list[RunDocument]:
    """Numbered runs by number; a run an event recorded before the submitter did, last."""
    runs = store.list_runs(job_id)
    return sorted(runs, key=lambda r: (r["run"] is None, r["run"] or 0, r["created_at"]))


# Submission, state and result lines: a handful per run, read whole on each request.
SMALL_KINDS = (LogKind.SUBMISSION, LogKind.STATE, LogKind.RESULT)
SMALL_LINES_CAP = 100


def _reading_key(line: LogDocument) -> tuple[int, int, int]:
    return (line.get("phase", 0), line["attempt"], line["seq"])


def logs_of(
    store: Store, job_id: str, query: LogQuery, log_streams: LogStreams | None = None
) -> View:
    """A job's lines in reading order: run by run, and in each run the submission, the
    states in status order, each attempt's lines, the terminal state, the result. With
    `index` (an array job), the lines of that child of each run instead.

    The cursor says which lines the reader has seen (cursors.py): a page is the lines
    it has not, in reading order. `next` continues while more such lines exist now;
    `resume` is where to ask again later (a follower's position): it gives the lines
    stored since, wherever they stand in reading order, each once.

    With `log_streams`, a run whose lines are not copied yet has its attempts' lines read
    from CloudWatch Logs as they are written: each is the very line the copy will
    store (`record.stream_lines`: same attempt and seq), so it is seen once either way.
    """
    # The input first, as for every other parameter: a bad cursor is a 400 for any job.
    seen = cursors.parse_log_cursor(query.cursor) if query.cursor else {}
    _check_index(_job(store, job_id), query.index)
    runs = _in_run_order(store, job_id)
    if query.run_number is not None:
        runs = [r for r in runs if r["run"] == query.run_number]
        if not runs:
            raise InvalidRequest(f"run: job {job_id} has no run {query.run_number}")
    # (batch_job_id whose lines are read, its run number); with `index`, the runs that
    # ran that item (a re-run of the failed ones ran only some).
    found_in = [
        (r["_id"] if query.index is None else arrays.source_of(r, query.index), r["run"])
        for r in runs
    ]
    if query.index is not None and query.run_number is not None and found_in[0][0] is None:
        raise InvalidRequest(
            f"index: run {query.run_number} of job {job_id} did not run item {query.index}"
        )
    sources = [(source, number) for source, number in found_in if source is not None]
    if not set(seen) <= {source for source, _ in sources}:
        raise InvalidRequest("cursor: not a cursor this API returned for this list")
    found: list[tuple[str, int | None, LogDocument]] = []
    for source, run_number in sources:
        wanted = query.limit + 1 - len(found)
        if wanted <= 0:
            break
        lines = _unseen(store, log_streams, source, query.where, seen.get(source), wanted)
        found += [(source, run_number, x) for x in lines]
    page = found[: query.limit]
    for source, _, line in page:
        _mark_seen(seen.setdefault(source, cursors.RunSeen()), line)
    cursor = cursors.log_cursor(seen)
    return {
        "job_id": job_id,
        "lines": [log_view(line, run_number) for _, run_number, line in page],
        "next": cursor if len(found) > query.limit else None,
        "resume": cursor,
    }


def _unseen(
    store: Store,
    log_streams: LogStreams | None,
    source: str,
    where: LogFilter,
    seen: cursors.RunSeen | None,
    wanted: int,
) -> list[LogDocument]:
    """Up to `wanted` of a run's lines not in `seen`, in reading order."""
    seen = seen or cursors.RunSeen()
    lines: list[LogDocument] = []
    small = tuple(k for k in SMALL_KINDS if not where.kinds or k in where.kinds)
    if small:
        lines += [
            x
            for x in store.list_logs(source, replace(where, kinds=small), None, SMALL_LINES_CAP)
            if (x["kind"], x["attempt"], x["seq"]) not in seen.small
        ]
    if not where.kinds or LogKind.LOG in where.kinds:
        # The run is read before the stored lines: once it says they are copied, the
        # store has them all, and a line read both ways is one line (the copy wins).
        run = store.get_run(source) if log_streams is not None else None
        stored = store.list_logs_from(source, where.attempt, seen.counts, wanted)
        if log_streams is not None and run is not None and _reads_live(run):
            by_key = {
                (x["attempt"], x["seq"]): x
                for x in stream_lines(
                    log_streams, run["job_id"], source, live_streams(run), utcnow()
                )
                if (where.attempt is None or x["attempt"] == where.attempt)
                and x["seq"] >= seen.counts.get(x["attempt"], 0)
            }
            by_key.update(((x["attempt"], x["seq"]), x) for x in stored)
            stored = [by_key[k] for k in sorted(by_key)][:wanted]
        # Only each attempt's next lines: one stored behind a gap (its writer still
        # inserting) waits for the gap to fill, so that what was seen stays a prefix.
        expected = dict(seen.counts)
        for line in stored:
            attempt = line["attempt"]
            if line["seq"] == expected.get(attempt, 0):
                lines.append(line)
                expected[attempt] = line["seq"] + 1
    return sorted(lines, key=_reading_key)[:wanted]


def _mark_seen(seen: cursors.RunSeen, line: LogDocument) -> None:
    if line["kind"] == LogKind.LOG:
        seen.counts[line["attempt"]] = line["seq"] + 1
    else:
        seen.small.add((line["kind"], line["attempt"], line["seq"]))


def live_streams(run: RunDocument) -> dict[int, str]:
    """Each attempt's stream, the current one included: Batch lists an attempt in
    `attempts` once it has ended; the one running is `log_stream`, numbered next."""
    found = {a["attempt"]: a["log_stream"] for a in run["attempts"] if a["log_stream"]}
    current = run.get("log_stream")
    if current and current not in found.values():
        found[len(run["attempts"]) + 1] = current
    return found


def _reads_live(run: RunDocument) -> bool:
    """Live lines are served for a run that has a stream and whose lines are not copied."""
    return not run["logs_copied"] and bool(live_streams(run))


def tasks(catalogue: Catalogue) -> View:
    """``GET /tasks``: every task of the catalogue, with its parameters' schema."""
    return {"tasks": [dict(task.describe()) for task in catalogue.values()]}


def task(catalogue: Catalogue, name: str) -> View:
    """``GET /tasks/{name}``; TaskNotFound (404) lists the known ones."""
    found = catalogue.get(name)
    if found is None:
        raise TaskNotFound(f"task {name!r} not found; known tasks: {', '.join(catalogue)}")
    return dict(found.describe())
