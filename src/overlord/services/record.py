"""Recording what Batch reports: the same code for events and for reconcile.

docs/design.md, "Recording", gives the rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.errors import StoreUnavailable
from overlord.domain.identity import is_job_id
from overlord.domain.observation import RunObservation
from overlord.domain.schema import LogDocument, ResultSummary, RunDocument
from overlord.domain.status import TERMINAL, is_terminal
from overlord.ports import Applied, LogStreams, Objects, Store, TerminalCopy
from overlord_contracts.bucket_layout import result_key

logger = logging.getLogger(__name__)

RESULT_CAP_BYTES = 256 * 1024
LOG_LINES_CAP = 10_000
LOG_BYTES_CAP = 1024 * 1024
COPY_THREADS = 8  # a batch's terminal copies read S3 and CloudWatch Logs at once


@dataclass(frozen=True)
class Outcome:
    recorded: bool  # False: not one of ours, ignored
    moved: bool = False
    log_lines: int = 0
    log_streams_truncated: int = 0  # streams copied only up to the caps
    ended: str | None = None  # the terminal status a job's own run (not a child) reached


def record_observation(
    store: Store, log_streams: LogStreams, objects: Objects, obs: RunObservation
) -> Outcome:
    """Apply one observation; on a terminal status also copy the result and the log lines.

    Idempotent: observations may come more than once and in any order. MongoDB errors
    propagate so that the event is delivered again.
    """
    if not is_job_id(obs.job_id):
        return _not_ours(obs)
    copy, copied, truncated = None, 0, 0
    if is_terminal(obs.status) and obs.is_array_parent:
        # An array's parent never runs: no container, no result, no lines of its own
        # (each child's are copied with the child's own terminal event).
        copy = TerminalCopy(result=None, logs_copied=True)
    elif is_terminal(obs.status):
        # Copy before the status moves, so that a client who sees the run finished
        # also finds its result and log lines.
        run = store.get_run(obs.batch_job_id)
        if run is None and store.get_job(obs.job_id) is None:
            return _unknown(obs)
        if run is None or not _ended_otherwise(run, obs.status):
            copy, copied, truncated = _copy_terminal(store, log_streams, objects, obs, run)
    applied = store.apply_observation(obs, utcnow(), copy)
    if not applied.known:
        return _unknown(obs)
    if applied.reached_at is not None:
        # Dated by this observation: of several observations of one status (a duplicate,
        # the submitter's, a retried attempt's), the store keeps the earliest line.
        store.append_logs(
            [
                schema.state_record(
                    obs.job_id, obs.batch_job_id, obs.status, obs.observed_at, obs.status_reason
                )
            ]
        )
    ended = obs.status if applied.moved and is_terminal(obs.status) and not obs.is_child else None
    return Outcome(True, applied.moved, copied, truncated, ended)


def record_batch(
    store: Store, log_streams: LogStreams, objects: Objects, observations: Sequence[RunObservation]
) -> list[Outcome | Exception]:
    """Record one batch of observations (an SQS batch, in recording order: grouped by
    run, each run's in status order): what `record_observation` does for each, with one
    write per collection for the batch (`Store.apply_observations`). Returns each
    observation's outcome, or the error that failed it (to be delivered again).

    Order of the writes, as for one observation: the terminal copies' lines (one insert
    for the batch) before any status moves, then the runs and the jobs, then the state
    lines (one insert). Everything is idempotent: a stop anywhere in between is repaired
    by the batch delivered again. When a write of the batch fails otherwise than with
    MongoDB unreachable, each observation is recorded again alone, so that only the one
    that fails is delivered again.
    """
    try:
        return list(_record_together(store, log_streams, objects, observations))
    except StoreUnavailable as exc:
        return [exc] * len(observations)
    except Exception:
        logger.warning("a batch failed as a whole; recording its events one by one", exc_info=True)
        return [_alone(store, log_streams, objects, obs) for obs in observations]


def _apply(
    store: Store, batch: list[tuple[RunObservation, TerminalCopy | None]], now: datetime
) -> list[Applied]:
    """The batch's observations applied: together, but for those that end a job, each
    alone and after the rest (they are last in their run's status order). Only a write
    of its own tells whether this delivery moved the job to its end, which the JobsEnded
    metric counts; a batch's write cannot tell when one of its statements misses."""
    ends = [n for n, (obs, _) in enumerate(batch) if is_terminal(obs.status) and not obs.is_child]
    rest = [n for n in range(len(batch)) if n not in ends]
    applied: dict[int, Applied] = dict(
        zip(rest, store.apply_observations([batch[n] for n in rest], now), strict=True)
    )
    for n in ends:
        obs, copy = batch[n]
        applied[n] = store.apply_observation(obs, now, copy)
    return [applied[n] for n in range(len(batch))]


def _alone(
    store: Store, log_streams: LogStreams, objects: Objects, obs: RunObservation
) -> Outcome | Exception:
    try:
        return record_observation(store, log_streams, objects, obs)
    except Exception as exc:
        return exc


def _record_together(
    store: Store, log_streams: LogStreams, objects: Objects, observations: Sequence[RunObservation]
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(observations)
    # (place in the batch, observation, its copy, how many lines it copies)
    applying: list[tuple[int, RunObservation, TerminalCopy | None, int]] = []
    copying: dict[int, RunDocument | None] = {}  # terminal observations to copy for
    for i, obs in enumerate(observations):
        if not is_job_id(obs.job_id):
            outcomes[i] = _not_ours(obs)
            continue
        if is_terminal(obs.status) and not obs.is_array_parent:
            run = store.get_run(obs.batch_job_id)
            if run is None and store.get_job(obs.job_id) is None:
                outcomes[i] = _unknown(obs)
                continue
            if run is None or not _ended_otherwise(run, obs.status):
                copying[i] = run
        applying.append((i, obs, None, 0))
    copies = _copies(log_streams, objects, [(observations[i], run) for i, run in copying.items()])
    made = dict(zip(copying, copies, strict=True))
    lines: list[LogDocument] = []
    for n, (i, obs, _, _) in enumerate(applying):
        if i in made:
            copy, more = made[i]
            lines += more
            applying[n] = (i, obs, copy, len(more))
        elif is_terminal(obs.status) and obs.is_array_parent:
            # An array's parent never runs: no container, no result, no lines of its own.
            applying[n] = (i, obs, TerminalCopy(result=None, logs_copied=True), 0)
    # Copied before any status moves: who sees a run ended finds its result and lines.
    new = store.append_logs(lines)
    applied = _apply(store, [(obs, copy) for _, obs, copy, _ in applying], utcnow())
    states = [
        schema.state_record(
            obs.job_id, obs.batch_job_id, obs.status, obs.observed_at, obs.status_reason
        )
        for (_, obs, _, _), done in zip(applying, applied, strict=True)
        if done.known and done.reached_at is not None
    ]
    store.append_logs(states)
    offset = 0
    for (i, obs, _, copied), done in zip(applying, applied, strict=True):
        if not done.known:
            outcomes[i] = _unknown(obs)
            continue
        # The batch's new lines, told to its events in order (exact unless some were
        # there already: the sum is what the metric needs).
        counted = min(copied, new)
        new -= counted
        mine = lines[offset : offset + copied]
        offset += copied
        ended = obs.status if done.moved and is_terminal(obs.status) and not obs.is_child else None
        outcomes[i] = Outcome(
            True, done.moved, counted, sum(1 for x in mine if x.get("truncated")), ended
        )
    done_all = [o for o in outcomes if o is not None]
    assert len(done_all) == len(observations), "every observation has its outcome"
    return done_all


def _copies(
    log_streams: LogStreams,
    objects: Objects,
    ending: list[tuple[RunObservation, RunDocument | None]],
) -> list[tuple[TerminalCopy, list[LogDocument]]]:
    """The terminal copies of a batch: each reads S3 and CloudWatch Logs (no store), at
    once on a few threads when there are several (a burst's batch of endings)."""
    if len(ending) < 2:
        return [_terminal_copy(log_streams, objects, obs, run) for obs, run in ending]
    with ThreadPoolExecutor(max_workers=min(COPY_THREADS, len(ending))) as pool:
        return list(pool.map(lambda e: _terminal_copy(log_streams, objects, *e), ending))


def _not_ours(obs: RunObservation) -> Outcome:
    logger.info(
        "ignoring a Batch job that is not ours",
        extra={"batch_job_id": obs.batch_job_id, "job_name": obs.job_id},
    )
    return Outcome(recorded=False)


def _unknown(obs: RunObservation) -> Outcome:
    logger.warning(
        "ignoring an event for an unknown job",
        extra={"job_id": obs.job_id, "batch_job_id": obs.batch_job_id},
    )
    return Outcome(recorded=False)


def _ended_otherwise(run: RunDocument, status: str) -> bool:
    """The run already has a different terminal status: this one is not its ending."""
    history = run["status_history"]
    return any(s in history for s in TERMINAL if s != status)


def _copy_terminal(
    store: Store,
    log_streams: LogStreams,
    objects: Objects,
    obs: RunObservation,
    run: RunDocument | None,
) -> tuple[TerminalCopy, int, int]:
    """The result summary and the attempts' log lines, stored in one insert of log lines;
    with how many lines were new and how many streams were cut at the caps."""
    copy, lines = _terminal_copy(log_streams, objects, obs, run)
    new = store.append_logs(lines)
    truncated = sum(1 for line in lines if line.get("truncated"))
    return copy, new, truncated


def _terminal_copy(
    log_streams: LogStreams, objects: Objects, obs: RunObservation, run: RunDocument | None
) -> tuple[TerminalCopy, list[LogDocument]]:
    """What a terminal observation copies: the result summary (read once: a run that has
    one keeps it) and the attempts' log lines (unless copied already), as lines to store."""
    result = run["result"] if run else None
    lines: list[LogDocument] = []
    if result is None:
        result = _read_result(objects, obs)
        if result is not None:
            lines.append(_result_line(obs, result))
    if not (run and run["logs_copied"]):
        lines += stream_lines(
            log_streams, obs.job_id, obs.batch_job_id, obs.streams_by_attempt(), obs.observed_at
        )
    return TerminalCopy(result=result, logs_copied=True), lines


def _read_result(objects: Objects, obs: RunObservation) -> ResultSummary | None:
    found = objects.get_capped(result_key(obs.job_id, obs.batch_job_id), RESULT_CAP_BYTES)
    if found is None:
        return None
    summary: ResultSummary = {"uri": found.uri, "size": found.size}
    if found.body is None:
        summary["truncated"] = True
    else:
        try:
            summary["summary"] = json.loads(found.body)
        except ValueError:
            summary["summary"] = None
            summary["error"] = "result object is not valid JSON"
    return summary


def _result_line(obs: RunObservation, result: ResultSummary) -> LogDocument:
    too_large = ", too large to copy" if result.get("truncated") else ""
    return schema.log_record(
        job_id=obs.job_id,
        batch_job_id=obs.batch_job_id,
        attempt=0,
        kind=schema.LogKind.RESULT,
        seq=0,
        ts=obs.observed_at,
        message=f"result {result['uri']} ({result['size']} bytes){too_large}",
    )


def copy_late_lines(store: Store, log_streams: LogStreams, run: RunDocument) -> int:
    """Read an ended run's streams again and store the lines that arrived after its terminal
    event (CloudWatch Logs ingests with a delay). Lines keep their place in the stream as
    `seq`, so lines already copied are not stored twice."""
    streams = {a["attempt"]: a["log_stream"] for a in run["attempts"] if a["log_stream"]}
    lines = stream_lines(log_streams, run["job_id"], run["_id"], streams, run["updated_at"])
    return store.append_logs(lines)


def stream_lines(
    log_streams: LogStreams,
    job_id: str,
    batch_job_id: str,
    streams: dict[int, str],
    fallback_ts: datetime,
) -> list[LogDocument]:
    """The attempts' lines as the copy stores them (also what the read side serves live
    for a running attempt: same `seq`, so the same place in the reading order)."""
    lines: list[LogDocument] = []
    for attempt, stream in sorted(streams.items()):
        read = log_streams.read(stream, LOG_LINES_CAP, LOG_BYTES_CAP)
        lines += [
            schema.log_record(
                job_id=job_id,
                batch_job_id=batch_job_id,
                attempt=attempt,
                kind=schema.LogKind.LOG,
                seq=seq,
                ts=line.ts,
                message=line.message,
            )
            for seq, line in enumerate(read.lines)
        ]
        if read.truncated:
            lines.append(
                schema.log_record(
                    job_id=job_id,
                    batch_job_id=batch_job_id,
                    attempt=attempt,
                    kind=schema.LogKind.LOG,
                    seq=len(read.lines),
                    ts=read.lines[-1].ts if read.lines else fallback_ts,
                    message=(
                        f"[overlord] log truncated after {len(read.lines)} lines / "
                        f"{read.bytes_read} bytes (caps: {LOG_LINES_CAP} lines, "
                        f"{LOG_BYTES_CAP} bytes); full stream: {stream}"
                    ),
                    truncated=True,
                )
            )
    return lines
