"""The MongoDB store: owns `jobs`, `runs` and `logs`, their indexes and every write to them.

Every write that depends on the current state is a conditional update, so concurrent
submitters and recorders that see the same job never undo each other's work and a
run's status never moves backwards (hyp3 #1539).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from overlord import records
from overlord.observation import RunObservation
from overlord.status import RERUNNABLE, TERMINAL, JobStatus, rank

DUPLICATE_KEY = 11000


class MongoStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs: Collection = db[records.JOBS]
        self.runs: Collection = db[records.RUNS]
        self.logs: Collection = db[records.LOGS]
        self._indexes_ready = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ indexes
    def ensure_indexes(self) -> None:
        """Idempotent; runs once per process, on first use."""
        if self._indexes_ready:
            return
        with self._lock:
            if self._indexes_ready:
                return
            self.jobs.create_index(
                [("status", ASCENDING), ("updated_at", ASCENDING)], name="status_updated"
            )
            self.jobs.create_index([("created_at", DESCENDING)], name="created")
            self.runs.create_index([("job_id", ASCENDING), ("run", ASCENDING)], name="job_run")
            self.runs.create_index([("status", ASCENDING)], name="status")
            self.logs.create_index(
                [
                    ("batch_job_id", ASCENDING),
                    ("attempt", ASCENDING),
                    ("kind", ASCENDING),
                    ("seq", ASCENDING),
                ],
                unique=True,
                name="line_identity",
            )
            self.logs.create_index([("job_id", ASCENDING), ("ts", ASCENDING)], name="job_ts")
            self._indexes_ready = True

    def ping(self) -> None:
        self.db.client.admin.command("ping")

    # --------------------------------------------------------------------- jobs
    def claim_job(self, job: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
        """Insert the job, or take over one whose submission failed.

        Returns the job document and whether this caller holds the claim (and so must
        submit it to Batch); a job taken over is returned as it was, still showing
        SUBMIT_FAILED. The unique `_id` is the lock: of concurrent identical requests
        exactly one insert succeeds.
        """
        self.ensure_indexes()
        try:
            self.jobs.insert_one(job)
            return job, True
        except DuplicateKeyError:
            pass
        retaken = self.jobs.find_one_and_update(
            {"_id": job["_id"], "status": JobStatus.SUBMIT_FAILED.value},
            {
                "$set": {
                    "status": JobStatus.SUBMITTING.value,
                    "status_reason": None,
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.BEFORE,
        )
        if retaken is not None:
            return retaken, True
        existing = self.jobs.find_one({"_id": job["_id"]})
        if existing is None:  # deleted between our insert and read: claim it afresh
            return self.claim_job(job, now)
        return existing, False

    def claim_new_run(self, job_id: str, now: datetime) -> dict[str, Any] | None:
        """Claim a finished job for another run, returned as it was before the claim;
        None when a run is still in flight."""
        return self.jobs.find_one_and_update(
            {"_id": job_id, "status": {"$in": sorted(RERUNNABLE)}},
            {
                "$set": {
                    "status": JobStatus.SUBMITTING.value,
                    "status_reason": None,
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.BEFORE,
        )

    def mark_submit_failed(self, job_id: str, reason: str, now: datetime) -> None:
        self.jobs.update_one(
            {"_id": job_id, "status": JobStatus.SUBMITTING.value},
            {
                "$set": {
                    "status": JobStatus.SUBMIT_FAILED.value,
                    "status_reason": reason,
                    "updated_at": now,
                }
            },
        )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self.jobs.find_one({"_id": job_id})

    def stale_jobs(
        self, statuses: Sequence[str], cutoff: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Jobs in `statuses` not updated, nor reconciled, since `cutoff`; oldest first."""
        query = {
            "status": {"$in": list(statuses)},
            "updated_at": {"$lt": cutoff},
            "$or": [{"reconciled_at": None}, {"reconciled_at": {"$lt": cutoff}}],
        }
        return list(self.jobs.find(query).sort("updated_at", ASCENDING).limit(limit))

    def mark_reconciled(self, job_ids: Sequence[str], now: datetime) -> None:
        if job_ids:
            self.jobs.update_many({"_id": {"$in": list(job_ids)}}, {"$set": {"reconciled_at": now}})

    # --------------------------------------------------------------------- runs
    def start_run(self, submitted: RunObservation, run_number: int, now: datetime) -> None:
        """Record a run Batch accepted (status SUBMITTED) and point the job at it."""
        self._ensure_run(
            submitted.batch_job_id,
            submitted.job_name,
            run_number,
            now,
            submitted.job_queue,
            submitted.job_definition,
        )
        self._merge(submitted, now)
        # An event may have raced ahead of us and moved the run on already.
        run = self.runs.find_one({"_id": submitted.batch_job_id}, {"status": 1})
        status = (run or {}).get("status") or submitted.status
        self.jobs.update_one(
            {"_id": submitted.job_name},
            {
                "$set": {
                    "latest_run": records.latest_run(submitted.batch_job_id, run_number, status),
                    "run_count": run_number,
                    "status": status,
                    "updated_at": now,
                }
            },
        )

    def ensure_run(self, obs: RunObservation, now: datetime) -> None:
        """Create the run from an observation if no document exists for it yet."""
        self._ensure_run(
            obs.batch_job_id, obs.job_name, None, now, obs.job_queue, obs.job_definition
        )

    def _ensure_run(
        self,
        batch_job_id: str,
        job_id: str,
        run_number: int | None,
        now: datetime,
        job_queue: str | None,
        job_definition: str | None,
    ) -> None:
        doc = records.new_run(
            batch_job_id=batch_job_id,
            job_id=job_id,
            run_number=run_number,
            at=now,
            job_queue=job_queue,
            job_definition=job_definition,
        )
        try:
            self.runs.update_one({"_id": batch_job_id}, {"$setOnInsert": doc}, upsert=True)
        except DuplicateKeyError:
            pass  # a concurrent upsert inserted it first: what we wanted
        if run_number is not None:
            self.runs.update_one({"_id": batch_job_id, "run": None}, {"$set": {"run": run_number}})

    def get_run(self, batch_job_id: str) -> dict[str, Any] | None:
        return self.runs.find_one({"_id": batch_job_id})

    def list_runs(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.runs.find({"job_id": job_id}).sort("run", ASCENDING))

    def apply_observation(self, obs: RunObservation, now: datetime) -> bool:
        """Merge what was observed into the run and, if it is the latest run, the job.

        Order-independent: each status's first time is kept, the status only moves to a
        higher rank, and the attempts list is replaced only by a longer or later one.
        Returns True when the run's status moved.
        """
        self.ensure_run(obs, now)
        return self._merge(obs, now)

    def _merge(self, obs: RunObservation, now: datetime) -> bool:
        new_rank = rank(obs.status)
        history_field = f"status_history.{obs.status}"
        history_filter: dict[str, Any] = {
            "_id": obs.batch_job_id,
            "$or": [{history_field: {"$exists": False}}, {history_field: {"$gt": obs.observed_at}}],
        }
        # A run ends once: a second, different terminal status is not history.
        if obs.status in TERMINAL:
            for other in TERMINAL - {obs.status}:
                history_filter[f"status_history.{other}"] = {"$exists": False}
        self.runs.update_one(history_filter, {"$set": {history_field: obs.observed_at}})
        moved = (
            self.runs.update_one(
                {"_id": obs.batch_job_id, "status_rank": {"$lt": new_rank}},
                {
                    "$set": {
                        "status": obs.status,
                        "status_rank": new_rank,
                        "status_reason": obs.status_reason,
                        "updated_at": now,
                    }
                },
            ).modified_count
            == 1
        )
        attempts_rank = len(obs.attempts) * 10 + new_rank
        self.runs.update_one(
            {"_id": obs.batch_job_id, "attempts_rank": {"$lt": attempts_rank}},
            {
                "$set": {
                    "attempts": [a.as_document() for a in obs.attempts],
                    "attempts_rank": attempts_rank,
                    "started_at": obs.started_at,
                    "stopped_at": obs.stopped_at,
                }
            },
        )
        self.jobs.update_one(
            {
                "_id": obs.job_name,
                "latest_run.run_id": obs.batch_job_id,
                "latest_run.status_rank": {"$lt": new_rank},
            },
            {
                "$set": {
                    "status": obs.status,
                    "status_reason": obs.status_reason,
                    "latest_run.status": obs.status,
                    "latest_run.status_rank": new_rank,
                    "updated_at": now,
                }
            },
        )
        return moved

    def set_result(self, job_id: str, batch_job_id: str, result: dict[str, Any]) -> None:
        self.runs.update_one(
            {"_id": batch_job_id}, {"$set": {"result": result, "result_uri": result.get("uri")}}
        )
        self.jobs.update_one(
            {"_id": job_id, "latest_run.run_id": batch_job_id}, {"$set": {"result": result}}
        )

    def mark_logs_copied(self, batch_job_id: str) -> None:
        self.runs.update_one({"_id": batch_job_id}, {"$set": {"logs_copied": True}})

    # --------------------------------------------------------------------- logs
    def append_logs(self, lines: Iterable[dict[str, Any]]) -> int:
        """Insert log records, ignoring ones already there; returns how many were new."""
        batch = list(lines)
        if not batch:
            return 0
        self.ensure_indexes()
        try:
            return len(self.logs.insert_many(batch, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return int(exc.details.get("nInserted", 0))

    def list_logs(
        self,
        job_id: str,
        batch_job_id: str | None = None,
        offset: int = 0,
        limit: int = 1000,
        kinds: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"job_id": job_id}
        if batch_job_id:
            query["batch_job_id"] = batch_job_id
        if kinds:
            query["kind"] = {"$in": list(kinds)}
        cursor = (
            self.logs.find(query, {"_id": 0})
            .sort(
                [("ts", ASCENDING), ("attempt", ASCENDING), ("kind", ASCENDING), ("seq", ASCENDING)]
            )
            .skip(offset)
            .limit(limit)
        )
        return list(cursor)
