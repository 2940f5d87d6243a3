"""Recording what Batch reports: the same code for events and for reconcile (DESIGN §1–2)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from overlord import records
from overlord.adapters.cloudwatch_logs import StreamRead
from overlord.adapters.s3 import CappedObject
from overlord.bucket_layout import result_key
from overlord.clock import utcnow
from overlord.identity import is_job_id
from overlord.observation import RunObservation
from overlord.status import TERMINAL, is_terminal

logger = logging.getLogger(__name__)

RESULT_CAP_BYTES = 256 * 1024
LOG_LINES_CAP = 10_000
LOG_BYTES_CAP = 1024 * 1024


class LogSource(Protocol):
    def read(self, stream: str, max_lines: int, max_bytes: int) -> StreamRead: ...


class ResultSource(Protocol):
    def get_capped(self, key: str, cap: int) -> CappedObject | None: ...


@dataclass(frozen=True)
class Outcome:
    recorded: bool  # False: not one of ours, ignored
    moved: bool = False
    log_lines: int = 0


def record_observation(
    store: Any, logs: LogSource, results: ResultSource, obs: RunObservation
) -> Outcome:
    """Apply one observation; on a terminal status also copy the result and the log lines.

    Idempotent: observations may come more than once and in any order. MongoDB errors
    propagate so that the event is delivered again.
    """
    if not is_job_id(obs.job_name):
        logger.info(
            "ignoring a Batch job that is not ours",
            extra={"batch_job_id": obs.batch_job_id, "job_name": obs.job_name},
        )
        return Outcome(recorded=False)
    if store.get_job(obs.job_name) is None:
        logger.warning(
            "ignoring an event for an unknown job",
            extra={"job_id": obs.job_name, "batch_job_id": obs.batch_job_id},
        )
        return Outcome(recorded=False)

    now = utcnow()
    copied = 0
    if is_terminal(obs.status):
        # Copy before the status moves, so that a client who sees the run finished
        # also finds its result and log lines.
        store.ensure_run(obs, now)
        run = store.get_run(obs.batch_job_id) or {}
        if not _ended_otherwise(run, obs.status):
            if run.get("result") is None:
                _copy_result(store, results, obs)
            if not run.get("logs_copied"):
                copied = _copy_logs(store, logs, obs)
                store.mark_logs_copied(obs.batch_job_id)
    moved = store.apply_observation(obs, now)
    run = store.get_run(obs.batch_job_id) or {}
    reached_at = (run.get("status_history") or {}).get(obs.status)
    if reached_at is not None:  # not a second, contradicting terminal status
        store.append_logs(
            [
                records.state_record(
                    obs.job_name, obs.batch_job_id, obs.status, reached_at, obs.status_reason
                )
            ]
        )
    return Outcome(recorded=True, moved=moved, log_lines=copied)


def _ended_otherwise(run: dict[str, Any], status: str) -> bool:
    """The run already has a different terminal status: this one is not its ending."""
    history = run.get("status_history") or {}
    return any(s in history for s in TERMINAL if s != status)


def _copy_result(store: Any, results: ResultSource, obs: RunObservation) -> None:
    key = result_key(obs.job_name, obs.batch_job_id)
    found = results.get_capped(key, RESULT_CAP_BYTES)
    if found is None:
        return
    summary: dict[str, Any] = {"uri": found.uri, "size": found.size}
    if found.body is None:
        summary["truncated"] = True
    else:
        try:
            summary["summary"] = json.loads(found.body)
        except ValueError:
            summary["summary"] = None
            summary["error"] = "result object is not valid JSON"
    store.set_result(obs.job_name, obs.batch_job_id, summary)
    store.append_logs(
        [
            records.log_record(
                job_id=obs.job_name,
                batch_job_id=obs.batch_job_id,
                attempt=0,
                kind=records.LogKind.RESULT,
                seq=0,
                ts=obs.observed_at,
                message=f"result {found.uri} ({found.size} bytes)"
                + (", too large to copy" if found.body is None else ""),
            )
        ]
    )


def _copy_logs(store: Any, logs: LogSource, obs: RunObservation) -> int:
    total = 0
    for attempt, stream in sorted(obs.streams_by_attempt().items()):
        read = logs.read(stream, LOG_LINES_CAP, LOG_BYTES_CAP)
        lines = [
            records.log_record(
                job_id=obs.job_name,
                batch_job_id=obs.batch_job_id,
                attempt=attempt,
                kind=records.LogKind.LOG,
                seq=seq,
                ts=line.ts,
                message=line.message,
            )
            for seq, line in enumerate(read.lines)
        ]
        if read.truncated:
            lines.append(
                records.log_record(
                    job_id=obs.job_name,
                    batch_job_id=obs.batch_job_id,
                    attempt=attempt,
                    kind=records.LogKind.LOG,
                    seq=len(read.lines),
                    ts=read.lines[-1].ts if read.lines else obs.observed_at,
                    message=(
                        f"[overlord] log truncated after {len(read.lines)} lines / "
                        f"{read.bytes_read} bytes (caps: {LOG_LINES_CAP} lines, "
                        f"{LOG_BYTES_CAP} bytes); full stream: {stream}"
                    ),
                    truncated=True,
                )
            )
        total += store.append_logs(lines)
    return total
