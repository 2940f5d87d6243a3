"""Recording what Batch reports: the same code for events and for reconcile.

docs/design.md, "Recording", gives the rules.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.identity import is_job_id
from overlord.domain.observation import RunObservation
from overlord.domain.schema import LogDocument, ResultSummary, RunDocument
from overlord.domain.status import TERMINAL, is_terminal
from overlord.ports import LogStreams, Objects, Store, TerminalCopy
from overlord_contracts.bucket_layout import result_key

logger = logging.getLogger(__name__)

RESULT_CAP_BYTES = 256 * 1024
LOG_LINES_CAP = 10_000
LOG_BYTES_CAP = 1024 * 1024


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
        logger.info(
            "ignoring a Batch job that is not ours",
            extra={"batch_job_id": obs.batch_job_id, "job_name": obs.job_id},
        )
        return Outcome(recorded=False)
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
    new = store.append_logs(lines)
    truncated = sum(1 for line in lines if line.get("truncated"))
    return TerminalCopy(result=result, logs_copied=True), new, truncated


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
