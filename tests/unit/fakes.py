"""In-memory fakes of our own ports (overlord.ports), for fast tests of the service layer.

They keep the contracts the MongoDB store keeps (a claim is exclusive, a run's status only
moves forward, each status keeps its earliest time, log lines are unique on their
identity), so the services can be tested without a server. The adapters themselves are
tested against real servers in tests/integration.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from overlord.domain import rules, schema
from overlord.domain.errors import BatchRejected
from overlord.domain.fieldnames import escape_key
from overlord.domain.observation import RunObservation
from overlord.domain.schema import (
    CancelRequest,
    ItemsDocument,
    JobDocument,
    LogDocument,
    ResultSummary,
    RunDocument,
)
from overlord.domain.status import RERUNNABLE, SUBMIT_FAILED, SUBMITTING, TERMINAL, rank
from overlord.domain.submission import SubmitRequest
from overlord.ports import (
    Applied,
    BatchJobRef,
    CappedObject,
    ChildState,
    ClaimResult,
    JobFilter,
    JobKey,
    LogFilter,
    LogKey,
    LogLine,
    StreamRead,
    TerminalCopy,
)
from overlord.ports.batch_events import BatchJobDetail
from overlord.services.submit import SubmitConfig
from overlord_contracts.catalogue import catalogue


def deepcopy(value: Any) -> Any:
    """A copy of a document (dicts, lists and immutable leaves): copy.deepcopy's work
    at a fraction of its cost, which the simulator's thousands of histories notice."""
    if isinstance(value, dict):
        return {k: deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deepcopy(v) for v in value]
    return value


# The time the service tests' events are observed from, and their submit configuration.
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = SubmitConfig(
    job_queue="q", catalogue=catalogue(), job_definition_prefix="", overrides_budget=6144
)


class FakeStore:
    def __init__(self) -> None:
        self.jobs: dict[str, JobDocument] = {}
        self.runs: dict[str, RunDocument] = {}
        self.logs: dict[tuple[str, int, str, int], LogDocument] = {}
        self.items: dict[str, ItemsDocument] = {}
        # Called before each document write (as MongoStore makes them): the simulator's
        # crash points and interleavings (tests/simulation).
        self.on_write: Callable[[str], None] = lambda what: None

    def _write(self, what: str) -> None:
        self.on_write(what)

    def claim_job(
        self, job: JobDocument, owner: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        self._write("jobs.insert")  # before the read: MongoDB's insert/update are atomic
        existing = self.jobs.get(job["_id"])
        claim: schema.Claim = {"owner": owner, "expires_at": now + lease}
        if existing is None:
            self.jobs[job["_id"]] = {**deepcopy(job), "claim": claim}
            return ClaimResult(deepcopy(job), claimed=True)
        lapsed = existing["status"] == SUBMITTING and (
            existing.get("claim") is None or existing["claim"]["expires_at"] < now  # type: ignore[index]
        )
        if existing["status"] == SUBMIT_FAILED or lapsed:
            before = deepcopy(existing)
            existing.update(status=SUBMITTING, status_reason=None, claim=claim, updated_at=now)
            return ClaimResult(before, claimed=True, taken_over=True)
        mine = (existing.get("claim") or {}).get("owner") == owner
        return ClaimResult(deepcopy(existing), claimed=mine, taken_over=mine)

    def claim_new_run(
        self,
        job_id: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        selection: list[int] | None = None,
    ) -> JobDocument | None:
        self._write("jobs.claim_new_run")
        job = self.jobs.get(job_id)
        if job is None or job["status"] not in RERUNNABLE:
            return None
        before = deepcopy(job)
        job.update(
            status=SUBMITTING,
            status_reason=None,
            claim={"owner": owner, "expires_at": now + lease},
            selection=selection,
            updated_at=now,
        )
        return before

    def mark_submit_failed(
        self, job_id: str, reason: str, now: datetime, owner: str | None = None
    ) -> None:
        self._write("jobs.submit_failed")
        job = self._submitting(job_id, owner)
        if job is None:
            return
        job.update(
            status=SUBMIT_FAILED,
            status_reason=reason,
            claim=None,
            reconciled_at=None,
            updated_at=now,
            submit_failures=job.get("submit_failures", 0) + 1,
        )

    def _submitting(self, job_id: str, owner: str | None) -> JobDocument | None:
        """The job if it is SUBMITTING under `owner`'s claim (None: anyone's), as
        MongoStore's conditions on `status` and `claim.owner` match it."""
        job = self.jobs.get(job_id)
        if job is None or job["status"] != SUBMITTING:
            return None
        if owner is not None and (job.get("claim") or {}).get("owner") != owner:
            return None
        return job

    def hold_claim(
        self, job_id: str, owner: str, until: datetime, reason: str, now: datetime
    ) -> None:
        self._write("jobs.hold_claim")
        job = self._submitting(job_id, owner)
        if job is None:
            return
        job.update(
            claim={**job["claim"], "expires_at": until},
            status_reason=reason,
            updated_at=now,
            submit_failures=job.get("submit_failures", 0) + 1,
        )

    def get_job(self, job_id: str) -> JobDocument | None:
        return deepcopy(self.jobs.get(job_id))

    def save_items(self, items: ItemsDocument) -> None:
        self._write("items.insert")
        self.items.setdefault(items["_id"], deepcopy(items))

    def get_items(self, job_id: str) -> ItemsDocument | None:
        return deepcopy(self.items.get(job_id))

    def stale_jobs(
        self, statuses: Sequence[str], cutoff: datetime, limit: int
    ) -> list[JobDocument]:
        found = [
            j
            for j in self.jobs.values()
            if j["status"] in statuses
            and j["updated_at"] < cutoff
            and (j.get("reconciled_at") is None or j["reconciled_at"] < cutoff)  # type: ignore[operator]
        ]
        return deepcopy(sorted(found, key=lambda j: j["updated_at"])[:limit])

    def mark_reconciled(self, job_ids: Sequence[str], now: datetime) -> None:
        self._write("jobs.reconciled")
        for job_id in job_ids:
            if self.jobs[job_id]["status"] != SUBMIT_FAILED:
                self.jobs[job_id]["reconciled_at"] = now

    def failed_submissions(self, cutoff: datetime, limit: int) -> list[JobDocument]:
        found = [
            j
            for j in self.jobs.values()
            if j["status"] == SUBMIT_FAILED
            and j["updated_at"] < cutoff
            and j.get("reconciled_at") is None
        ]
        return deepcopy(sorted(found, key=lambda j: j["updated_at"])[:limit])

    def mark_failures_seen(self, jobs: Sequence[JobDocument], now: datetime) -> None:
        if not jobs:
            return
        self._write("jobs.failures_seen")
        for seen in jobs:
            job = self.jobs.get(seen["_id"])
            if (
                job is not None
                and job["status"] == SUBMIT_FAILED
                and job.get("submit_failures") == seen.get("submit_failures")
            ):
                job["reconciled_at"] = now

    # The run writes below follow MongoStore's, write for write (`_write`), applying the
    # same rules (overlord.domain.rules), so that a history crashes at the same places.

    def record_submitted_run(self, run: RunDocument, now: datetime) -> None:
        number = run["run"]
        assert number is not None
        self._write("runs.insert")
        raced = self.runs.get(run["_id"])
        if raced is None:
            self.runs[run["_id"]] = deepcopy(run)
        else:
            raced["run"] = number
            for status, at in run["status_history"].items():
                if rules.earlier(raced["status_history"], status, at):
                    raced["status_history"][status] = at
            if "array" in run:
                raced["array"] = {**raced.get("array", {}), **run["array"]}  # type: ignore[typeddict-item]
            if "item" in run:
                raced["item"] = run["item"]
        self._write("jobs.latest_run")
        job = self.jobs[run["job_id"]]
        if job["run_count"] < number:
            job.update(
                latest_run=schema.latest_run(run["_id"], number, str(run["status"])),
                run_count=number,
                status=str(run["status"]),
                status_reason=None,
                result=None,
                claim=None,
                updated_at=now,
            )
            job.pop("selection", None)
        current = self.runs[run["_id"]]
        if current["status_rank"] > rank(str(run["status"])):  # MongoStore's _moved_since
            self._job_follows(current, now)

    def _job_follows(self, run: RunDocument, now: datetime) -> None:
        if "parent" in run:
            return
        if "array" in run and run["status"] in TERMINAL:
            self._settle_array(run, now)
            return
        status = rules.job_follows(run)
        if status is not None:
            self._move_job(
                run["job_id"], run["_id"], status, run["status_reason"], now, run["result"]
            )

    def apply_observation(
        self, obs: RunObservation, now: datetime, copy: TerminalCopy | None = None
    ) -> Applied:
        if obs.job_id not in self.jobs:
            return Applied(known=False)
        if obs.batch_job_id not in self.runs:
            self._write("runs.insert")
        run = self.runs.get(obs.batch_job_id)
        if run is None:
            run = self.runs[obs.batch_job_id] = schema.new_run(
                batch_job_id=obs.batch_job_id,
                job_id=obs.job_id,
                run_number=None,
                at=obs.created_at or now,
                job_queue=obs.job_queue,
                job_definition=obs.job_definition,
                parent=obs.parent,
                index=obs.index,
            )
        self._write("runs.forward")  # the conditional update MongoStore always sends
        if self._forward(run, obs, now, copy):
            if self._moves_job(obs):
                result = copy.result if copy is not None else None
                self._move_job(
                    obs.job_id, obs.batch_job_id, obs.status, obs.status_reason, now, result
                )
            else:
                self._after_moved(obs, now)
            return Applied(known=True, moved=True, reached_at=obs.observed_at)
        return self._late(run, obs, now, copy)

    def apply_observations(
        self, batch: Sequence[tuple[RunObservation, TerminalCopy | None]], now: datetime
    ) -> list[Applied]:
        """MongoStore.apply_observations, write for write: the runs' bulk write (each
        observation's forward update and merge), then the jobs' if every statement
        matched, else each observation's late path."""
        applied: list[Applied | None] = [None] * len(batch)
        alone = {obs.batch_job_id for obs, _ in batch if self._creates_child(obs)}
        together = [i for i, (obs, _) in enumerate(batch) if obs.batch_job_id not in alone]
        if together:
            self._write("runs.bulk")
            matched = 0
            for i in together:
                obs, copy = batch[i]
                run = self.runs.get(obs.batch_job_id)
                if run is None:
                    continue
                if self._plain_submitted(obs):
                    matched += self._submitted(run, obs)
                else:
                    matched += self._forward(run, obs, now, copy)
            if matched == len(together):
                moving = [i for i in together if not self._plain_submitted(batch[i][0])]
                moves = [batch[i] for i in moving if self._moves_job(batch[i][0])]
                if moves:
                    self._write("jobs.bulk")
                    for obs, copy in moves:
                        result = copy.result if copy is not None else None
                        self._job_moves(
                            obs.job_id, obs.batch_job_id, obs.status, obs.status_reason, now, result
                        )
                recounted: set[str] = set()  # an array's children: one recount
                for i in together:
                    obs = batch[i][0]
                    if i not in moving:
                        applied[i] = Applied(known=True, reached_at=obs.observed_at)
                        continue
                    if not self._moves_job(obs):
                        self._after_moved(obs, now, recounted)
                    applied[i] = Applied(known=True, moved=True, reached_at=obs.observed_at)
            else:
                self._late_together(batch, together, applied, now)
        for i, (obs, copy) in enumerate(batch):
            if applied[i] is None:
                applied[i] = self.apply_observation(obs, now, copy)
        return [a for a in applied if a is not None]

    def _late_together(
        self,
        batch: Sequence[tuple[RunObservation, TerminalCopy | None]],
        together: list[int],
        applied: list[Applied | None],
        now: datetime,
    ) -> None:
        """MongoStore._apply_late_together: the late writes in one bulk, each run read
        once, the jobs' catch-up in one bulk, then the recounts."""
        self._write("runs.bulk")
        for i in together:
            obs, copy = batch[i]
            run = self.runs.get(obs.batch_job_id)
            if run is None or rules.ended_otherwise(run["status_history"], obs.status):
                continue
            if rules.earlier(run["status_history"], obs.status, obs.observed_at):
                run["status_history"][obs.status] = obs.observed_at
            self._set_batch_fields(run, obs)
            if run["attempts_rank"] < rules.attempts_rank(len(obs.attempts), obs.status):
                self._set_attempts(run, obs)
            self._copy(run, copy)
        # As MongoStore reads them: copies, which later writes of this batch do not change.
        runs: dict[str, RunDocument | None] = {}
        for i in together:
            batch_job_id = batch[i][0].batch_job_id
            if batch_job_id not in runs:
                runs[batch_job_id] = deepcopy(self.runs.get(batch_job_id))
        for i in together:
            obs = batch[i][0]
            seen = runs[obs.batch_job_id]
            if seen is not None and seen["status_rank"] >= rank(obs.status):
                applied[i] = Applied(known=True, reached_at=seen["status_history"].get(obs.status))
        follows = [
            (r, status)
            for r in runs.values()
            if r is not None
            and self._follows_directly(r)
            and (status := rules.job_follows(r)) is not None
        ]
        if follows:
            self._write("jobs.bulk")
            for r, status in follows:
                self._job_moves(r["job_id"], r["_id"], status, r["status_reason"], now, r["result"])
        recounted: set[str] = set()  # an array's children: one recount
        for seen in runs.values():
            if seen is None or self._follows_directly(seen):
                continue
            if "parent" in seen:
                if seen["status"] in TERMINAL and seen["parent"] not in recounted:
                    recounted.add(seen["parent"])
                    self._child_ended(seen["parent"], now)
            else:
                self._catch_up(seen, now)

    @staticmethod
    def _plain_submitted(obs: RunObservation) -> bool:
        return (
            obs.status == "SUBMITTED"
            and not obs.is_child
            and not obs.attempts
            and obs.log_stream is None
            and obs.started_at is None
            and obs.stopped_at is None
        )

    def _submitted(self, run: RunDocument, obs: RunObservation) -> bool:
        """MongoStore's update for a plain SUBMITTED event: True when it matched."""
        if run["status_rank"] < rank(obs.status):
            return False
        if rules.earlier(run["status_history"], obs.status, obs.observed_at):
            run["status_history"][obs.status] = obs.observed_at
        self._set_batch_fields(run, obs)
        run["attempts_rank"] = max(run["attempts_rank"], rules.attempts_rank(0, obs.status))
        run.setdefault("log_stream", None)  # type: ignore[typeddict-item]
        return True

    @staticmethod
    def _follows_directly(run: RunDocument) -> bool:
        return "parent" not in run and not ("array" in run and run["status"] in TERMINAL)

    @staticmethod
    def _creates_child(obs: RunObservation) -> bool:
        return obs.is_child and rank(obs.status) <= rank("RUNNABLE")

    @staticmethod
    def _moves_job(obs: RunObservation) -> bool:
        return not obs.is_child and not (obs.is_array_parent and obs.status in TERMINAL)

    def _after_moved(
        self, obs: RunObservation, now: datetime, recounted: set[str] | None = None
    ) -> None:
        if obs.status not in TERMINAL:
            return
        if obs.is_child:
            if recounted is None or obs.parent not in recounted:
                if recounted is not None:
                    recounted.add(str(obs.parent))
                self._child_ended(str(obs.parent), now)
        else:
            run = self.runs.get(obs.batch_job_id)
            if run is not None:
                self._settle_array(run, now)

    def _forward(
        self, run: RunDocument, obs: RunObservation, now: datetime, copy: TerminalCopy | None
    ) -> bool:
        """MongoStore's forward update on `run`: True when it matched (moved the run)."""
        new_rank = rank(obs.status)
        if run["status_rank"] >= new_rank:
            return False
        history = run["status_history"]
        run.update(
            status=obs.status,
            status_rank=new_rank,
            status_reason=obs.status_reason,
            updated_at=now,
        )
        if rules.earlier(history, obs.status, obs.observed_at):
            history[obs.status] = obs.observed_at
        self._set_batch_fields(run, obs)
        self._set_attempts(run, obs)
        self._copy(run, copy)
        if obs.array_size is not None:
            run["array"] = {  # as the store's dotted $set: other fields stay
                **run.get("array", {}),  # type: ignore[typeddict-item]
                "size": obs.array_size,
                "status_summary": obs.status_summary,
                "status_summary_at": obs.status_summary_at,
            }
        return True

    def _late(
        self, run: RunDocument, obs: RunObservation, now: datetime, copy: TerminalCopy | None
    ) -> Applied:
        """MongoStore's late path: the run is at or past this status."""
        history = run["status_history"]
        if rules.ended_otherwise(history, obs.status):
            self._catch_up(run, now)
            return Applied(known=True)
        if rules.earlier(history, obs.status, obs.observed_at) or any(
            run.get(k) != v for k, v in self._batch_fields(obs).items()
        ):
            self._write("runs.merge")
            if rules.earlier(history, obs.status, obs.observed_at):
                history[obs.status] = obs.observed_at
            self._set_batch_fields(run, obs)
        if run["attempts_rank"] < rules.attempts_rank(len(obs.attempts), obs.status):
            self._write("runs.attempts")
            if run["attempts_rank"] < rules.attempts_rank(len(obs.attempts), obs.status):
                self._set_attempts(run, obs)
        if copy is not None and (
            run["logs_copied"] != copy.logs_copied
            or (copy.result is not None and run["result"] != copy.result)
        ):
            self._write("runs.copy")
            self._copy(run, copy)
        self._catch_up(run, now)
        return Applied(known=True, reached_at=history[obs.status])

    def _catch_up(self, run: RunDocument, now: datetime) -> None:
        if "parent" in run:
            if run["status"] in TERMINAL:
                self._child_ended(run["parent"], now)
        else:
            self._job_follows(run, now)

    @staticmethod
    def _batch_fields(obs: RunObservation) -> dict[str, object]:
        fields = {
            "job_queue": obs.job_queue,
            "job_definition": obs.job_definition,
            "created_at": obs.created_at,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def _set_batch_fields(self, run: RunDocument, obs: RunObservation) -> None:
        run.update(self._batch_fields(obs))  # type: ignore[typeddict-item]

    @staticmethod
    def _set_attempts(run: RunDocument, obs: RunObservation) -> None:
        run.update(
            attempts=[a.as_document() for a in obs.attempts],
            log_stream=obs.log_stream,
            attempts_rank=rules.attempts_rank(len(obs.attempts), obs.status),
            started_at=obs.started_at,
            stopped_at=obs.stopped_at,
        )

    @staticmethod
    def _copy(run: RunDocument, copy: TerminalCopy | None) -> None:
        if copy is None:
            return
        run["logs_copied"] = copy.logs_copied
        if copy.result is not None:
            run["result"], run["result_uri"] = copy.result, copy.result["uri"]

    def _move_job(
        self,
        job_id: str,
        batch_job_id: str,
        status: str,
        reason: str | None,
        now: datetime,
        result: ResultSummary | None = None,
    ) -> None:
        self._write("jobs.move")
        self._job_moves(job_id, batch_job_id, status, reason, now, result)

    def _job_moves(
        self,
        job_id: str,
        batch_job_id: str,
        status: str,
        reason: str | None,
        now: datetime,
        result: ResultSummary | None = None,
    ) -> None:
        """MongoStore's conditional update of the job, without its write point."""
        job = self.jobs.get(job_id)
        if job is None or not rules.moves_job(job["latest_run"], batch_job_id, status):
            return
        latest = job["latest_run"]
        assert latest is not None
        latest.update(status=status, status_rank=rank(status))
        job.update(status=status, status_reason=reason, updated_at=now)
        if result is not None:
            job["result"] = result

    def _child_ended(self, parent_id: str, now: datetime) -> None:
        parent = self.runs.get(parent_id)
        if parent is not None and parent["status"] in TERMINAL:
            self._settle_array(parent, now)

    def _settle_array(self, parent: RunDocument, now: datetime) -> bool:
        """As MongoStore's: decided on `parent` as read (maybe a copy read earlier),
        written to the stored run."""
        if parent["status"] not in TERMINAL or "array" not in parent:
            return False
        ended = sum(1 for c in self.children(parent["_id"]) if c.status in TERMINAL)
        if ended > parent["array"].get("ended", 0):
            self._write("runs.recount")
            stored = self.runs[parent["_id"]]["array"]
            stored["ended"] = max(ended, stored.get("ended", 0))
        status = rules.job_follows(parent, ended)
        if status is None:
            return False
        self._move_job(parent["job_id"], parent["_id"], status, parent["status_reason"], now)
        return True

    def complete_array(self, parent: str, now: datetime) -> bool:
        run = self.runs.get(parent)
        return run is not None and self._settle_array(run, now)

    def get_run(self, batch_job_id: str) -> RunDocument | None:
        return deepcopy(self.runs.get(batch_job_id))

    def unsettled_runs(self, limit: int) -> list[RunDocument]:
        found = [r for r in self.runs.values() if not r["logs_settled"] and r["status"] in TERMINAL]
        return deepcopy(sorted(found, key=lambda r: r["updated_at"])[:limit])

    def mark_logs_settled(self, batch_job_ids: Sequence[str]) -> None:
        self._write("runs.settled")
        for batch_job_id in batch_job_ids:
            self.runs[batch_job_id]["logs_settled"] = True

    def list_runs(self, job_id: str) -> list[RunDocument]:
        runs = [r for r in self.runs.values() if r["job_id"] == job_id and "parent" not in r]
        return deepcopy(sorted(runs, key=lambda r: r["run"] or 0))

    def children(self, parent: str, status: str | None = None) -> list[ChildState]:
        return sorted(
            ChildState(r["index"], r["status"])  # type: ignore[typeddict-item]
            for r in self.runs.values()
            if r.get("parent") == parent and status in (None, r["status"])
        )

    def count_children(self, parent: str) -> dict[str, int]:
        return dict(Counter(c.status for c in self.children(parent) if c.status is not None))

    def append_logs(self, lines: Sequence[LogDocument]) -> int:
        if not lines:
            return 0
        self._write("logs.insert")
        new = 0
        duplicates: list[tuple[LogDocument, LogDocument]] = []
        for line in lines:
            identity = (line["batch_job_id"], line["attempt"], line["kind"], line["seq"])
            kept = self.logs.get(identity)
            if kept is None:
                self.logs[identity] = deepcopy(line)
                new += 1
            elif line["kind"] == schema.LogKind.STATE:
                duplicates.append((kept, line))
        if duplicates:  # MongoStore's one update of the state lines already there
            self._write("logs.earlier")
            for kept, line in duplicates:
                if kept["ts"] > line["ts"]:
                    kept.update(ts=line["ts"], message=line["message"])
        return new

    def list_logs(
        self, batch_job_id: str, where: LogFilter, after: LogKey | None, limit: int
    ) -> list[LogDocument]:
        def key(x: LogDocument) -> tuple[int, int, int]:
            return (x.get("phase", 0), x["attempt"], x["seq"])

        lines = [
            x
            for x in self.logs.values()
            if x["batch_job_id"] == batch_job_id
            and (where.attempt is None or x["attempt"] == where.attempt)
            and (not where.kinds or x["kind"] in where.kinds)
            and (after is None or key(x) > (after.phase, after.attempt, after.seq))
        ]
        return deepcopy(sorted(lines, key=key)[:limit])

    def list_logs_from(
        self, batch_job_id: str, attempt: int | None, starts: Mapping[int, int], limit: int
    ) -> list[LogDocument]:
        lines = [
            x
            for x in self.logs.values()
            if x["batch_job_id"] == batch_job_id
            and x["kind"] == schema.LogKind.LOG
            and (attempt is None or x["attempt"] == attempt)
            and x["seq"] >= starts.get(x["attempt"], 0)
        ]
        return deepcopy(sorted(lines, key=lambda x: (x["attempt"], x["seq"]))[:limit])

    def list_jobs(self, where: JobFilter, after: JobKey | None, limit: int) -> list[JobDocument]:
        def matches(job: JobDocument) -> bool:
            return (
                (where.status is None or job["status"] == where.status)
                and (where.task is None or job["task"] == where.task)
                and all(job["tags"].get(escape_key(k)) == v for k, v in where.tags)
                and (where.created_after is None or job["created_at"] > where.created_after)
                and (where.created_before is None or job["created_at"] < where.created_before)
                and (
                    after is None
                    or (job["created_at"], job["_id"]) < (after.created_at, after.job_id)
                )
            )

        found = sorted(
            (j for j in self.jobs.values() if matches(j)),
            key=lambda j: (j["created_at"], j["_id"]),
            reverse=True,
        )
        return deepcopy(found[:limit])

    def record_cancel(self, batch_job_id: str, cancel: CancelRequest) -> None:
        self._write("runs.cancel")
        if batch_job_id in self.runs:
            self.runs[batch_job_id]["cancel"] = deepcopy(cancel)

    def clear_cancel(self, batch_job_id: str) -> None:
        self._write("runs.cancel")
        self.runs.get(batch_job_id, {}).pop("cancel", None)  # type: ignore[misc]

    def ping(self) -> None:
        return None


class FakeBatch:
    """Our queue: remembers every SubmitJob; `describe` answers what a test set."""

    def __init__(self) -> None:
        self.submitted: list[SubmitRequest] = []
        self.jobs: dict[str, BatchJobRef] = {}
        self.names: dict[str, str] = {}
        self.details: dict[str, BatchJobDetail] = {}
        self.fail_next: Exception | None = None
        self.lose_next_answer = False  # the job is created, the answer lost
        self.stopped: list[tuple[str, str, str]] = []  # (CancelJob | TerminateJob, id, reason)
        self.before_describe: Callable[[], None] | None = None  # Batch moves on meanwhile
        self.listed: list[tuple[str, str]] = []  # list_children calls: (parent, status)
        self.described: list[str] = []  # every batch_job_id asked of describe
        self._ids = (f"batch-{i}" for i in itertools.count(1))

    def submit(self, request: SubmitRequest) -> str:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if not request.job_name:
            raise BatchRejected("Batch refused the job: jobName is required")
        batch_job_id = next(self._ids)
        self.submitted.append(request)
        self.jobs[batch_job_id] = BatchJobRef(batch_job_id, len(self.jobs), "SUBMITTED")
        self.names[batch_job_id] = request.job_name
        if self.lose_next_answer:
            from overlord.domain.errors import SubmitOutcomeUnknown

            self.lose_next_answer = False
            raise SubmitOutcomeUnknown("Batch failed: read timeout")
        return batch_job_id

    def find_by_name(self, job_name: str) -> list[BatchJobRef]:
        found = [ref for i, ref in self.jobs.items() if self.names[i] == job_name]
        return sorted(found, key=lambda r: r.created_at_ms, reverse=True)

    def describe(self, batch_job_ids: Sequence[str]) -> list[BatchJobDetail]:
        if self.before_describe is not None:
            self.before_describe()
        self.described += batch_job_ids
        return [self.details[i] for i in batch_job_ids if i in self.details]

    def list_children(self, parent: str, status: str) -> list[str]:
        self.listed.append((parent, status))
        return [
            i for i, d in self.details.items() if i.startswith(f"{parent}:") and d.status == status
        ]

    def cancel(self, batch_job_id: str, reason: str) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.stopped.append(("CancelJob", batch_job_id, reason))

    def terminate(self, batch_job_id: str, reason: str) -> None:
        self.stopped.append(("TerminateJob", batch_job_id, reason))


class FakeObjects:
    def __init__(self, bucket: str = "results") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}

    def put_text(self, key: str, text: str) -> str:
        return self.put_bytes(key, text.encode())

    def put_bytes(self, key: str, data: bytes) -> str:
        self.objects[key] = data
        return f"s3://{self.bucket}/{key}"

    def get_capped(self, key: str, cap: int) -> CappedObject | None:
        body = self.objects.get(key)
        if body is None:
            return None
        uri = f"s3://{self.bucket}/{key}"
        return CappedObject(uri, len(body), body if len(body) <= cap else None)


class FakeLogStreams:
    def __init__(self) -> None:
        self.streams: dict[str, list[LogLine]] = {}

    def read(self, stream: str, max_lines: int, max_bytes: int) -> StreamRead:
        lines = self.streams.get(stream, [])
        kept: list[LogLine] = []
        size = 0
        for line in lines:
            encoded = len(line.message.encode())
            if len(kept) >= max_lines or size + encoded > max_bytes:
                return StreamRead(kept, True, size)
            kept.append(line)
            size += encoded
        return StreamRead(kept, False, size)
