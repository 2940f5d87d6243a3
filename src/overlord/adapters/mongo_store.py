"""The MongoDB store: owns `jobs`, `runs` and `logs`, their indexes and every write to them.

Every write that depends on the current state is a conditional update, so concurrent
submitters and recorders that see the same job never undo each other's work and a
run's status never moves backwards (hyp3 #1539). The common paths are one command per
collection: an event that moves a run forward is one update of the run and one of the
job; anything unusual (a duplicate, an event out of order, an event ahead of the
submitter) falls back to a slower path that reads first.

Connection failures are retried briefly here and then raised as the domain's
StoreUnavailable, so no service sees a driver exception.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar, cast

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from overlord.domain import rules, schema
from overlord.domain.errors import StoreUnavailable
from overlord.domain.fieldnames import escape_key
from overlord.domain.observation import RunObservation
from overlord.domain.schema import (
    CancelRequest,
    ItemsDocument,
    JobDocument,
    LogDocument,
    RunDocument,
)
from overlord.domain.status import RERUNNABLE, SUBMIT_FAILED, SUBMITTING, TERMINAL, RunStatus, rank
from overlord.ports import (
    Applied,
    ChildState,
    ClaimResult,
    JobFilter,
    JobKey,
    LogFilter,
    LogKey,
    TerminalCopy,
)

DUPLICATE_KEY = 11000
P = ParamSpec("P")
R = TypeVar("R")

_retry_connection = retry(
    retry=retry_if_exception_type(ConnectionFailure),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.2, max=1),
    reraise=True,
)


def _store_call(method: Callable[P, R]) -> Callable[P, R]:
    """Retry a passing connection failure; then report StoreUnavailable (no driver text:
    it may name hosts)."""
    retried = _retry_connection(method)

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return retried(*args, **kwargs)
        except ConnectionFailure as exc:
            raise StoreUnavailable(
                f"MongoDB unreachable ({type(exc).__name__}); try again shortly"
            ) from None

    return call


def _update_each(
    collection: Collection[dict[str, Any]], ids: Sequence[str], update: dict[str, Any]
) -> None:
    """The same update on each of these documents, in one round trip.

    One `{_id: x}` statement per document rather than `{_id: {$in: ids}}`: FerretDB
    (`make dev`) answers an `_id` equality from its index but reads the whole collection
    for `$in`. update_many was not atomic across documents either.
    """
    if ids:
        collection.bulk_write([UpdateOne({"_id": i}, update) for i in ids], ordered=False)


def _moved_since(current: Mapping[str, Any], submitted: Mapping[str, Any]) -> bool:
    """The run has moved past the status the submitter recorded (an event raced ahead):
    only then can the job's following it move the job, which shows that status or more
    (the pointer just set it, or an earlier writer did)."""
    return int(current.get("status_rank") or 0) > rank(str(submitted["status"]))


def _creates_child(obs: RunObservation) -> bool:
    """A child's earliest statuses: its first event creates its run in one insert."""
    return obs.is_child and rank(obs.status) <= rank(RunStatus.RUNNABLE)


def _plain_submitted(obs: RunObservation) -> bool:
    """A SUBMITTED event with nothing the submitter's run lacks (Batch's always): no
    attempts, stream or times. Its run is usually there already, at SUBMITTED."""
    return (
        obs.status == RunStatus.SUBMITTED
        and not obs.is_child
        and not obs.attempts
        and obs.log_stream is None
        and obs.started_at is None
        and obs.stopped_at is None
    )


def _job_follows_directly(run: Mapping[str, Any]) -> bool:
    """A run whose job catches up with it by one update: not a child (its job follows
    the parent) nor an ended array (the recount decides)."""
    return "parent" not in run and not ("array" in run and run.get("status") in TERMINAL)


def _moves_job(obs: RunObservation) -> bool:
    """A moved run moves its job directly, but for a child (its job follows the parent)
    and an ended array parent (its job waits for the children: the recount)."""
    return not obs.is_child and not (obs.is_array_parent and obs.status in TERMINAL)


class MongoStore:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.db = db
        self.jobs: Collection[dict[str, Any]] = db[schema.JOBS]
        self.runs: Collection[dict[str, Any]] = db[schema.RUNS]
        self.logs: Collection[dict[str, Any]] = db[schema.LOGS]
        self.items: Collection[dict[str, Any]] = db[schema.ITEMS]
        self._indexes_ready = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ indexes
    @_store_call
    def ensure_indexes(self) -> None:
        """Idempotent; runs once per process, on first use (wiring calls it at start)."""
        if self._indexes_ready:
            return
        with self._lock:
            if self._indexes_ready:
                return
            for index in schema.INDEXES:
                self.db[index.collection].create_index(
                    list(index.keys), name=index.name, unique=index.unique
                )
            self._indexes_ready = True

    @_store_call
    def ping(self) -> None:
        self.db.client.admin.command("ping")

    # --------------------------------------------------------------------- jobs
    @_store_call
    def claim_job(
        self, job: JobDocument, owner: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        """Insert the job, or take over one whose submission failed or whose claim lapsed.

        The unique `_id` is the lock: of concurrent identical requests exactly one insert
        succeeds. A job taken over is returned as it was (SUBMIT_FAILED, or SUBMITTING
        with a lapsed claim), so the caller knows to look for a Batch job first.
        """
        claim: schema.Claim = {"owner": owner, "expires_at": now + lease}
        try:
            self.jobs.insert_one({**job, "claim": claim})
            return ClaimResult(job, claimed=True)
        except DuplicateKeyError:
            pass
        previous = self.jobs.find_one_and_update(
            {
                "_id": job["_id"],
                "$or": [
                    {"status": SUBMIT_FAILED},
                    {"status": SUBMITTING, "claim.expires_at": {"$lt": now}},
                    {"status": SUBMITTING, "claim": None},  # no claim: none to wait for
                ],
            },
            {
                "$set": {
                    "status": SUBMITTING,
                    "status_reason": None,
                    "claim": claim,
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.BEFORE,
        )
        if previous is not None:
            return ClaimResult(cast(JobDocument, previous), claimed=True, taken_over=True)
        existing = self.jobs.find_one({"_id": job["_id"]})
        if existing is None:  # deleted between our insert and read: claim it afresh
            return self.claim_job(job, owner, now, lease)
        # Our own insert, retried after its answer was lost, finds our claim.
        mine = (existing.get("claim") or {}).get("owner") == owner
        return ClaimResult(cast(JobDocument, existing), claimed=mine, taken_over=mine)

    @_store_call
    def claim_new_run(
        self,
        job_id: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        selection: list[int] | None = None,
    ) -> JobDocument | None:
        """Claim a finished job for another run, returned as it was before the claim;
        None when a run is still in flight. `selection`: the items it runs (None: all)."""
        claim: schema.Claim = {"owner": owner, "expires_at": now + lease}
        found = self.jobs.find_one_and_update(
            {"_id": job_id, "status": {"$in": sorted(RERUNNABLE)}},
            {
                "$set": {
                    "status": SUBMITTING,
                    "status_reason": None,
                    "claim": claim,
                    "selection": selection,
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.BEFORE,
        )
        return cast(JobDocument | None, found)

    @_store_call
    def mark_submit_failed(
        self, job_id: str, reason: str, now: datetime, owner: str | None = None
    ) -> None:
        """Release a claim: only the one `owner` holds (None: whoever holds it), so that
        a caller acting on an old read (reconcile's pass) never frees a claim another
        submitter took since. Reconcile looks at the job once more (`reconciled_at`)."""
        where: dict[str, Any] = {"_id": job_id, "status": SUBMITTING}
        if owner is not None:
            where["claim.owner"] = owner
        self.jobs.update_one(
            where,
            {
                "$set": {
                    "status": SUBMIT_FAILED,
                    "status_reason": reason,
                    "claim": None,
                    "reconciled_at": None,
                    "updated_at": now,
                },
                "$inc": {"submit_failures": 1},
            },
        )

    @_store_call
    def hold_claim(
        self, job_id: str, owner: str, until: datetime, reason: str, now: datetime
    ) -> None:
        self.jobs.update_one(
            {"_id": job_id, "status": SUBMITTING, "claim.owner": owner},
            {
                "$set": {
                    "claim.expires_at": until,
                    "status_reason": reason,
                    "updated_at": now,
                },
                "$inc": {"submit_failures": 1},
            },
        )

    @_store_call
    def get_job(self, job_id: str) -> JobDocument | None:
        return cast(JobDocument | None, self.jobs.find_one({"_id": job_id}))

    @_store_call
    def save_items(self, items: ItemsDocument) -> None:
        # The job ID is the hash of the items: a document already there holds the same.
        with contextlib.suppress(DuplicateKeyError):
            self.items.insert_one(dict(items))

    @_store_call
    def get_items(self, job_id: str) -> ItemsDocument | None:
        return cast(ItemsDocument | None, self.items.find_one({"_id": job_id}))

    @_store_call
    def stale_jobs(
        self, statuses: Sequence[str], cutoff: datetime, limit: int
    ) -> list[JobDocument]:
        """Jobs in `statuses` not updated, nor reconciled, since `cutoff`; oldest first."""
        query = {
            "status": {"$in": list(statuses)},
            "updated_at": {"$lt": cutoff},
            "$or": [{"reconciled_at": None}, {"reconciled_at": {"$lt": cutoff}}],
        }
        found = self.jobs.find(query).sort("updated_at", ASCENDING).limit(limit)
        return [cast(JobDocument, j) for j in found]

    @_store_call
    def mark_reconciled(self, job_ids: Sequence[str], now: datetime) -> None:
        """Only jobs that have not failed since the pass read them: a submission that
        failed meanwhile reset `reconciled_at` so that a pass adopts what Batch has."""
        if job_ids:
            self.jobs.bulk_write(
                [
                    UpdateOne(
                        {"_id": i, "status": {"$ne": SUBMIT_FAILED}},
                        {"$set": {"reconciled_at": now}},
                    )
                    for i in job_ids
                ],
                ordered=False,
            )

    @_store_call
    def failed_submissions(self, cutoff: datetime, limit: int) -> list[JobDocument]:
        """SUBMIT_FAILED jobs not looked at by reconcile since they failed; oldest first."""
        query = {"status": SUBMIT_FAILED, "updated_at": {"$lt": cutoff}, "reconciled_at": None}
        found = self.jobs.find(query).sort("updated_at", ASCENDING).limit(limit)
        return [cast(JobDocument, j) for j in found]

    @_store_call
    def mark_failures_seen(self, jobs: Sequence[JobDocument], now: datetime) -> None:
        if not jobs:
            return
        self.jobs.bulk_write(
            [
                UpdateOne(
                    # Missing (None) matches a job that has never counted its failures.
                    {
                        "_id": j["_id"],
                        "status": SUBMIT_FAILED,
                        "submit_failures": j.get("submit_failures"),
                    },
                    {"$set": {"reconciled_at": now}},
                )
                for j in jobs
            ],
            ordered=False,
        )

    # --------------------------------------------------------------------- runs
    @_store_call
    def record_submitted_run(self, run: RunDocument, now: datetime) -> None:
        """Record a run Batch accepted (status SUBMITTED) and point the job at it.

        The run first, with its number: if the process stops before the job points at
        it, the numbered run is what the client's retry or reconcile finds and records
        again (`rules.is_unrecorded`); the other order left a job pointing at a run that
        an event then created without a number. If an event raced ahead and created the
        run, the run gets its number (and the earlier of the two SUBMITTED times). Last,
        the job takes the run's status as it is by then (read after the pointer, so an
        event applied in between is not missed).
        """
        run_number = run["run"]
        assert run_number is not None, "a submitted run has its number"
        try:
            self.runs.insert_one(dict(run))
        except DuplicateKeyError:
            self._number_raced_run(run, run_number)
        self.jobs.update_one(
            {"_id": run["job_id"], "run_count": {"$lt": run_number}},
            {
                "$set": {
                    "latest_run": schema.latest_run(run["_id"], run_number, str(run["status"])),
                    "run_count": run_number,
                    "status": str(run["status"]),
                    "status_reason": None,
                    "result": None,
                    "claim": None,
                    "updated_at": now,
                },
                "$unset": {"selection": ""},
            },
        )
        current = self.runs.find_one({"_id": run["_id"]})
        if current is not None and _moved_since(current, run):
            self._job_follows(current, now)

    def _number_raced_run(self, run: RunDocument, run_number: int) -> None:
        numbered: dict[str, Any] = {"run": run_number}
        if "array" in run:
            numbered["array.size"] = run["array"]["size"]
            if "indices" in run["array"]:
                numbered["array.indices"] = run["array"]["indices"]
        if "item" in run:
            numbered["item"] = run["item"]
        # What the insert would have brought, merged as the events merge theirs, so the
        # run is the same whichever came first (created_at is Batch's, from the events).
        earliest = {f"status_history.{status}": at for status, at in run["status_history"].items()}
        self.runs.update_one({"_id": run["_id"]}, {"$set": numbered, "$min": earliest})

    def _job_follows(self, run: dict[str, Any], now: datetime) -> None:
        """Move the job of `run` (if it is the job's latest) to the run's status, by the
        rules: an ended array only once all its children have (recounted)."""
        if "parent" in run:
            return
        if "array" in run and run.get("status") in TERMINAL:
            self._settle_array(run, now)
            return
        status = rules.job_follows(run)
        if status is not None:
            self._move_job(
                run["job_id"], run["_id"], status, run.get("status_reason"), now, run.get("result")
            )

    @_store_call
    def get_run(self, batch_job_id: str) -> RunDocument | None:
        return cast(RunDocument | None, self.runs.find_one({"_id": batch_job_id}))

    @_store_call
    def unsettled_runs(self, limit: int) -> list[RunDocument]:
        """Ended runs whose log streams may still receive lines; oldest first."""
        found = (
            self.runs.find({"logs_settled": False, "status": {"$in": sorted(TERMINAL)}})
            .sort("updated_at", ASCENDING)
            .limit(limit)
        )
        return [cast(RunDocument, r) for r in found]

    @_store_call
    def mark_logs_settled(self, batch_job_ids: Sequence[str]) -> None:
        _update_each(self.runs, batch_job_ids, {"$set": {"logs_settled": True}})

    @_store_call
    def list_runs(self, job_id: str) -> list[RunDocument]:
        """The job's runs; an array run's children are not runs of the job."""
        found = self.runs.find({"job_id": job_id, "parent": {"$exists": False}}).sort(
            "run", ASCENDING
        )
        return [cast(RunDocument, r) for r in found]

    @_store_call
    def children(self, parent: str, status: str | None = None) -> list[ChildState]:
        """An array run's recorded children (in `status`, if given), by index (the read
        path: each child's document is read, through the `children` index on MongoDB and
        on FerretDB, whose patch 0004 pushes the equalities down)."""
        where = {"parent": parent} if status is None else {"parent": parent, "status": status}
        found = self.runs.find(where, {"_id": 0, "index": 1, "status": 1})
        return sorted(ChildState(c["index"], c["status"]) for c in found)

    @_store_call
    def count_children(self, parent: str) -> dict[str, int]:
        """One `count` command per status, answered from the `children` index (MongoDB)
        or in SQL without decoding a document (FerretDB's patch 0006): reading 10,000
        children to count them cost FerretDB seconds of CPU."""
        counts = {status.value: self._count_children(parent, status.value) for status in RunStatus}
        return {status: n for status, n in counts.items() if n}

    def _count_children(self, parent: str, status: str) -> int:
        """A `count` command, not `count_documents` (an aggregation, which FerretDB
        answers by decoding every child: seconds at 10,000)."""
        found = self.runs.database.command(
            "count", self.runs.name, query={"parent": parent, "status": status}
        )
        return int(found["n"])

    @_store_call
    def apply_observation(
        self, obs: RunObservation, now: datetime, copy: TerminalCopy | None = None
    ) -> Applied:
        """Merge what was observed into the run and, if it is the job's latest run, the job.

        Order-independent: each status's first time is kept, the status only moves to a
        higher rank, the attempts list is replaced only by a longer or later one, and the
        queue, job definition and creation time are Batch's (whoever created the run).
        `copy` (result, logs copied) is written with a terminal status, in the same update.
        The job is brought to the run also when the run did not move (a duplicate): the
        process that moved the run may have stopped before moving the job.
        """
        if _creates_child(obs):
            created = self._create_child(obs, now)
            if created is not None:
                return created
        moved = self.runs.update_one(*self._forward(obs, copy, now))
        if moved.matched_count:
            if _moves_job(obs):
                self.jobs.update_one(*self._job_move(obs, copy, now))
            else:
                self._after_moved(obs, now)
            return Applied(known=True, moved=True, reached_at=obs.observed_at)
        return self._apply_late(obs, now, copy)

    @_store_call
    def apply_observations(
        self, batch: Sequence[tuple[RunObservation, TerminalCopy | None]], now: datetime
    ) -> list[Applied]:
        """`apply_observation` for a batch (in recording order: by run, each run's in
        status order), with one write per collection when every observation moves its
        run forward or is a SUBMITTED the submitter recorded already (a burst's case):

        1. `runs`: one ordered `bulk_write`, per observation its forward update (the very
           update `apply_observation` sends first), or for a plain SUBMITTED the late
           path's writes as one update that matches a run at or past SUBMITTED
           (`_submitted`). Ordered: a run's observations apply in the batch's order, as
           one at a time would.
        2. If every statement matched: `jobs`, one unordered `bulk_write` of the moved
           runs' jobs (each conditional on the job's latest run and rank: a max-fold,
           so their order does not matter); then an ended child's parent recount or an
           ended array's settling, one by one. A SUBMITTED leaves the job as the
           submitter set it (its move could not match: the job shows SUBMITTED or more).
        3. Otherwise which statement missed is unknown (MongoDB counts matches, not
           which): `runs` again, one ordered `bulk_write` of what the late path writes,
           as conditional updates that need no read (`_late_writes`); each run is read
           once; the jobs catch up with their runs (`jobs`, one unordered `bulk_write`),
           then the recounts, as a duplicate delivery would do; last, the observations
           whose run is missing or still behind them (created meanwhile, by the
           submitter or another event) are applied one by one. Step 3 reports
           `moved=False` but for those, also where the forward update moved the run.

        A child's first event (its run created by an insert) goes alone, with the rest
        of its run's observations. A stop between the writes is repaired as a stop
        between one observation's writes: the batch delivered again takes step 3.
        """
        applied: list[Applied | None] = [None] * len(batch)
        alone = {obs.batch_job_id for obs, _ in batch if _creates_child(obs)}
        together = [i for i, (obs, _) in enumerate(batch) if obs.batch_job_id not in alone]
        if together:
            first = [
                UpdateOne(*self._submitted(obs))
                if _plain_submitted(obs)
                else UpdateOne(*self._forward(obs, copy, now))
                for obs, copy in (batch[i] for i in together)
            ]
            if self.runs.bulk_write(first, ordered=True).matched_count == len(first):
                moving = [i for i in together if not _plain_submitted(batch[i][0])]
                moves = [
                    UpdateOne(*self._job_move(*batch[i], now))
                    for i in moving
                    if _moves_job(batch[i][0])
                ]
                if moves:
                    self.jobs.bulk_write(moves, ordered=False)
                recounted: set[str] = set()  # an array's children: one recount
                for i in together:
                    obs = batch[i][0]
                    if i not in moving:  # SUBMITTED, as the submitter recorded it
                        applied[i] = Applied(known=True, reached_at=obs.observed_at)
                        continue
                    if not _moves_job(obs):
                        self._after_moved(obs, now, recounted)
                    applied[i] = Applied(known=True, moved=True, reached_at=obs.observed_at)
            else:
                self._apply_late_together(batch, together, applied, now)
        for i, (obs, copy) in enumerate(batch):
            if applied[i] is None:
                applied[i] = self.apply_observation(obs, now, copy)
        return [a for a in applied if a is not None]

    def _apply_late_together(
        self,
        batch: Sequence[tuple[RunObservation, TerminalCopy | None]],
        together: list[int],
        applied: list[Applied | None],
        now: datetime,
    ) -> None:
        """Step 3 of apply_observations: fills `applied`, but for missing runs'."""
        late = [UpdateOne(*w) for i in together for w in self._late_writes(*batch[i])]
        self.runs.bulk_write(late, ordered=True)
        runs: dict[str, dict[str, Any] | None] = {}
        for i in together:
            batch_job_id = batch[i][0].batch_job_id
            if batch_job_id not in runs:
                runs[batch_job_id] = self.runs.find_one({"_id": batch_job_id})
        for i in together:
            obs = batch[i][0]
            run = runs[obs.batch_job_id]
            # A run missing, or behind this status (created since the forward update
            # missed it: by the submitter, or another event): one by one, below.
            if run is not None and run.get("status_rank", 0) >= rank(obs.status):
                reached = (run.get("status_history") or {}).get(obs.status)
                applied[i] = Applied(known=True, reached_at=reached)
        moves = [
            UpdateOne(
                *self._job_update(
                    r["job_id"], r["_id"], status, r.get("status_reason"), now, r.get("result")
                )
            )
            for r in runs.values()
            if r is not None
            and _job_follows_directly(r)
            and (status := rules.job_follows(r)) is not None
        ]
        if moves:
            self.jobs.bulk_write(moves, ordered=False)
        recounted: set[str] = set()  # an array's children: one recount
        for run in runs.values():
            if run is None or _job_follows_directly(run):
                continue
            if "parent" in run:
                if run["status"] in TERMINAL and run["parent"] not in recounted:
                    recounted.add(run["parent"])
                    self._child_ended(run["parent"], now)
            else:
                self._catch_up(run, now)
        # A missing run's observations (ahead of the submitter, or an unknown job) and a
        # run's still ahead of it are applied one by one by the caller.

    def _submitted(self, obs: RunObservation) -> tuple[dict[str, Any], dict[str, Any]]:
        """A plain SUBMITTED event on a run recorded already (the usual case: the
        submitter recorded it first): the late path's writes in one update that matches
        exactly when the run is there at SUBMITTED or past it. The attempts it would
        write are the new run's (none, no stream, no times) but for the rank, and a run
        past SUBMITTED keeps its own: hence `$max`."""
        update: dict[str, Any] = {
            "$min": {f"status_history.{obs.status}": obs.observed_at},
            "$max": {
                "attempts_rank": rules.attempts_rank(0, obs.status),
                "log_stream": None,
            },
        }
        if fields := self._batch_fields(obs):
            update["$set"] = fields
        return {"_id": obs.batch_job_id, "status_rank": {"$gte": rank(obs.status)}}, update

    def _late_writes(
        self, obs: RunObservation, copy: TerminalCopy | None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """What `_apply_late` writes on a run at or past `obs`, as conditional updates
        (filter, update) that need no read: each a no-op where the late path writes
        nothing. None on a run that ended with another status (rules.ended_otherwise)."""
        where: dict[str, Any] = {"_id": obs.batch_job_id}
        if obs.status in TERMINAL:
            for other in sorted(TERMINAL - {obs.status}):
                where[f"status_history.{other}"] = {"$exists": False}
        merge: dict[str, Any] = {"$min": {f"status_history.{obs.status}": obs.observed_at}}
        if fields := self._batch_fields(obs):
            merge["$set"] = fields
        attempts_rank = rules.attempts_rank(len(obs.attempts), obs.status)
        writes = [
            (where, merge),
            (
                {**where, "attempts_rank": {"$lt": attempts_rank}},
                {"$set": self._attempts_fields(obs)},
            ),
        ]
        if copy is not None:
            writes.append((where, {"$set": self._copy_fields(copy)}))
        return writes

    def _forward(
        self, obs: RunObservation, copy: TerminalCopy | None, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's forward update (filter, update): matches only a run behind `obs`."""
        new_rank = rank(obs.status)
        forward: dict[str, Any] = {
            "status": obs.status,
            "status_rank": new_rank,
            "status_reason": obs.status_reason,
            "updated_at": now,
            **self._attempts_fields(obs),
            **self._batch_fields(obs),
        }
        if copy is not None:
            forward.update(self._copy_fields(copy))
        forward.update(self._array_fields(obs))
        return (
            {"_id": obs.batch_job_id, "status_rank": {"$lt": new_rank}},
            {"$set": forward, "$min": {f"status_history.{obs.status}": obs.observed_at}},
        )

    def _after_moved(
        self, obs: RunObservation, now: datetime, recounted: set[str] | None = None
    ) -> None:
        """After a child's or an array parent's run moved: an ending recounts the array."""
        if obs.status not in TERMINAL:
            return
        if obs.is_child:  # a child moves its own run; the job follows the parent
            # One recount per array and batch, after all its children moved.
            if recounted is None or obs.parent not in recounted:
                if recounted is not None:
                    recounted.add(str(obs.parent))
                self._child_ended(str(obs.parent), now)
        else:
            self._settle_array({"_id": obs.batch_job_id}, now)

    def _job_move(
        self, obs: RunObservation, copy: TerminalCopy | None, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        result = copy.result if copy is not None else None
        return self._job_update(
            obs.job_id, obs.batch_job_id, obs.status, obs.status_reason, now, result
        )

    # An array job ends (its job document turns SUCCEEDED or FAILED) once its parent run
    # has ended and every child's ending is recorded, so that a client who sees it ended
    # finds every child's outcome (EventBridge may deliver the parent's ending before its
    # children's, and a child's before the submitter has recorded the parent). Whoever
    # writes an ending last (the parent's, a child's, the submitter's record) recounts
    # the ended children after its write and ends the job: a count kept by increments
    # was lost when the parent was not there yet, or the process stopped in between.

    def _child_ended(self, parent_id: str, now: datetime) -> None:
        parent = self.runs.find_one({"_id": parent_id})
        if parent is not None and parent.get("status") in TERMINAL:
            self._settle_array(parent, now)

    def _settle_array(self, parent: dict[str, Any], now: datetime) -> bool:
        """Recount an ended array run's children into `array.ended` (only ever raised: a
        recount read earlier is not newer) and end the job if every child has ended."""
        if "status" not in parent:
            found = self.runs.find_one({"_id": parent["_id"]})
            if found is None:
                return False
            parent = found
        if parent.get("status") not in TERMINAL or "array" not in parent:
            return False
        ended = sum(self._count_children(parent["_id"], status) for status in sorted(TERMINAL))
        if ended > (parent["array"].get("ended") or 0):
            self.runs.update_one({"_id": parent["_id"]}, {"$max": {"array.ended": ended}})
        status = rules.job_follows(parent, ended)
        if status is None:
            return False
        self._move_job(parent["job_id"], parent["_id"], status, parent.get("status_reason"), now)
        return True

    @_store_call
    def complete_array(self, parent: str, now: datetime) -> bool:
        """Recount an ended array run's children and, if every one has ended, end its job
        (reconcile's repair). True: the array has ended."""
        return self._settle_array({"_id": parent}, now)

    def _create_child(self, obs: RunObservation, now: datetime) -> Applied | None:
        """An array child's first event (one of its earliest statuses) creates its run with
        that status in one insert: thousands of children would otherwise each pay the
        update that finds nothing and the reads of the slow path. None: it exists already
        (a duplicate or a late event), so the usual path applies."""
        if self.jobs.find_one({"_id": obs.job_id}, {"_id": 1}) is None:
            return Applied(known=False)
        doc = schema.new_run(
            batch_job_id=obs.batch_job_id,
            job_id=obs.job_id,
            run_number=None,
            at=obs.created_at or now,
            job_queue=obs.job_queue,
            job_definition=obs.job_definition,
            parent=obs.parent,
            index=obs.index,
        )
        # What the forward update below would set on that document.
        doc["status"], doc["status_rank"] = obs.status, rank(obs.status)
        doc["status_reason"], doc["updated_at"] = obs.status_reason, now
        doc["status_history"] = {obs.status: obs.observed_at}
        try:
            self.runs.insert_one({**doc, **self._attempts_fields(obs)})
        except DuplicateKeyError:
            return None
        return Applied(known=True, moved=True, reached_at=obs.observed_at)

    def _apply_late(self, obs: RunObservation, now: datetime, copy: TerminalCopy | None) -> Applied:
        """The run is missing, or already at or past this status: a duplicate or a late event."""
        run = self.runs.find_one({"_id": obs.batch_job_id})
        if run is None:
            if self.jobs.find_one({"_id": obs.job_id}, {"_id": 1}) is None:
                return Applied(known=False)
            # Ahead of the submitter's record (or a run adopted by reconcile): create it
            # without a number; record_submitted_run gives it one.
            doc = schema.new_run(
                batch_job_id=obs.batch_job_id,
                job_id=obs.job_id,
                run_number=None,
                # Batch's creation time: the same document whichever event comes first.
                at=obs.created_at or now,
                job_queue=obs.job_queue,
                job_definition=obs.job_definition,
                parent=obs.parent,
                index=obs.index,
            )
            # insert_one, not an upsert with $setOnInsert: FerretDB 1.24 drops its nulls.
            with contextlib.suppress(DuplicateKeyError):  # a concurrent insert won: fine
                self.runs.insert_one(dict(doc))
            return self.apply_observation(obs, now, copy)
        if run.get("status_rank", 0) < rank(obs.status):
            # Behind this status after all: the run did not exist when the forward update
            # ran and was created since (by the submitter, or another event). Ranks only
            # grow, so the forward update now either applies or finds the run past it.
            return self.apply_observation(obs, now, copy)
        history: dict[str, datetime] = run.get("status_history") or {}
        if rules.ended_otherwise(history, obs.status):
            self._catch_up(run, now)
            return Applied(known=True)  # a run ends once: not history
        merge: dict[str, Any] = {}
        if rules.earlier(history, obs.status, obs.observed_at):
            merge["$min"] = {f"status_history.{obs.status}": obs.observed_at}
        batch_fields = {k: v for k, v in self._batch_fields(obs).items() if run.get(k) != v}
        if batch_fields:
            merge["$set"] = batch_fields
        if merge:
            self.runs.update_one({"_id": obs.batch_job_id}, merge)
        attempts_rank = rules.attempts_rank(len(obs.attempts), obs.status)
        if run.get("attempts_rank", 0) < attempts_rank:
            self.runs.update_one(
                {"_id": obs.batch_job_id, "attempts_rank": {"$lt": attempts_rank}},
                {"$set": self._attempts_fields(obs)},
            )
        if copy is not None and (
            run.get("logs_copied") != copy.logs_copied
            or (copy.result is not None and run.get("result") != copy.result)
        ):
            self.runs.update_one({"_id": obs.batch_job_id}, {"$set": self._copy_fields(copy)})
            if copy.result is not None:
                run["result"] = copy.result
        self._catch_up(run, now)
        reached = history.get(obs.status)
        return Applied(
            known=True,
            reached_at=min(reached, obs.observed_at) if reached else obs.observed_at,
        )

    def _catch_up(self, run: dict[str, Any], now: datetime) -> None:
        """What the writer that moved this run may not have done: an ended child's
        parent recount, or the job following its run."""
        if "parent" in run:
            if run.get("status") in TERMINAL:
                self._child_ended(run["parent"], now)
        else:
            self._job_follows(run, now)

    @staticmethod
    def _attempts_fields(obs: RunObservation) -> dict[str, Any]:
        return {
            "attempts": [a.as_document() for a in obs.attempts],
            # The current attempt's stream: Batch lists an attempt only once it has
            # ended, and GET /jobs/{id}/logs reads a running one's lines from it.
            "log_stream": obs.log_stream,
            "attempts_rank": rules.attempts_rank(len(obs.attempts), obs.status),
            "started_at": obs.started_at,
            "stopped_at": obs.stopped_at,
        }

    @staticmethod
    def _batch_fields(obs: RunObservation) -> dict[str, Any]:
        """Batch's names for the queue and definition (ARNs in events and DescribeJobs)
        and its creation time: they replace what the submitter wrote (its names, its
        clock), which a run created from an event never has, so that the run reads the
        same whichever wrote it first."""
        fields = {
            "job_queue": obs.job_queue,
            "job_definition": obs.job_definition,
            "created_at": obs.created_at,
        }
        return {k: v for k, v in fields.items() if v is not None}

    @staticmethod
    def _array_fields(obs: RunObservation) -> dict[str, Any]:
        """A parent's size, and Batch's count of its children as of this (forward) status."""
        if obs.array_size is None:
            return {}
        return {
            "array.size": obs.array_size,
            "array.status_summary": obs.status_summary,
            "array.status_summary_at": obs.status_summary_at,
        }

    @staticmethod
    def _copy_fields(copy: TerminalCopy) -> dict[str, Any]:
        fields: dict[str, Any] = {"logs_copied": copy.logs_copied}
        if copy.result is not None:
            fields.update(result=copy.result, result_uri=copy.result["uri"])
        return fields

    def _move_job(
        self,
        job_id: str,
        batch_job_id: str,
        status: str,
        reason: str | None,
        now: datetime,
        result: Any = None,
    ) -> None:
        """The job follows its latest run forward (rules.moves_job), with the run's
        result when it brings one."""
        self.jobs.update_one(*self._job_update(job_id, batch_job_id, status, reason, now, result))

    @staticmethod
    def _job_update(
        job_id: str,
        batch_job_id: str,
        status: str,
        reason: str | None,
        now: datetime,
        result: Any = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        new_rank = rank(status)
        fields: dict[str, Any] = {
            "status": status,
            "status_reason": reason,
            "latest_run.status": status,
            "latest_run.status_rank": new_rank,
            "updated_at": now,
        }
        if result is not None:
            fields["result"] = result
        return (
            {
                "_id": job_id,
                "latest_run.batch_job_id": batch_job_id,
                "latest_run.status_rank": {"$lt": new_rank},
            },
            {"$set": fields},
        )

    # --------------------------------------------------------------------- logs
    @_store_call
    def append_logs(self, lines: Sequence[LogDocument]) -> int:
        """Insert log records, ignoring ones already there; returns how many were new.

        A state line (schema.state_record) already there keeps the earlier of the two
        times, with its message, as `status_history` does: a status is observed more
        than once (the submitter and the event both see SUBMITTED; a retried job is
        RUNNABLE again), and the line must not depend on which arrived first.
        """
        if not lines:
            return 0
        self.ensure_indexes()  # the unique line identity makes this idempotent
        try:
            return len(self.logs.insert_many([dict(x) for x in lines], ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            # A state line already there keeps the earlier time: one round trip for
            # all of them (a batch's SUBMITTED lines all meet the submitter's).
            earlier = [
                UpdateOne(
                    {"_id": line["_id"], "ts": {"$gt": line["ts"]}},
                    {"$set": {"ts": line["ts"], "message": line["message"]}},
                )
                for line in (lines[e["index"]] for e in errors)
                if line["kind"] == schema.LogKind.STATE and "_id" in line
            ]
            if earlier:
                self.logs.bulk_write(earlier, ordered=False)
            return int(exc.details.get("nInserted", 0))

    @_store_call
    def list_logs_from(
        self, batch_job_id: str, attempt: int | None, starts: Mapping[int, int], limit: int
    ) -> list[LogDocument]:
        query: dict[str, Any] = {"batch_job_id": batch_job_id, "kind": schema.LogKind.LOG}
        if attempt is not None:
            query["attempt"] = attempt
        if starts:
            query["$or"] = [
                *({"attempt": a, "seq": {"$gte": n}} for a, n in sorted(starts.items())),
                {"attempt": {"$nin": sorted(starts)}},
            ]
        cursor = (
            self.logs.find(query, {"_id": 0})
            .sort([("phase", ASCENDING), ("attempt", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [cast(LogDocument, x) for x in cursor]

    @_store_call
    def list_logs(
        self, batch_job_id: str, where: LogFilter, after: LogKey | None, limit: int
    ) -> list[LogDocument]:
        query: dict[str, Any] = {"batch_job_id": batch_job_id}
        if where.attempt is not None:
            query["attempt"] = where.attempt
        if where.kinds:
            query["kind"] = {"$in": list(where.kinds)}
        if after is not None:
            query["$or"] = [
                {"phase": {"$gt": after.phase}},
                {"phase": after.phase, "attempt": {"$gt": after.attempt}},
                {"phase": after.phase, "attempt": after.attempt, "seq": {"$gt": after.seq}},
            ]
        cursor = (
            self.logs.find(query, {"_id": 0})
            .sort([("phase", ASCENDING), ("attempt", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [cast(LogDocument, x) for x in cursor]

    # ------------------------------------------------------------------ listing
    @_store_call
    def list_jobs(self, where: JobFilter, after: JobKey | None, limit: int) -> list[JobDocument]:
        query: dict[str, Any] = {}
        if where.status is not None:
            query["status"] = where.status
        if where.task is not None:
            query["task"] = where.task
        for key, value in where.tags:
            # Stored names are escaped (fieldnames.py): the same escaping finds them, and
            # a key with `.` or `$` cannot turn into a path or an operator.
            query[f"tags.{escape_key(key)}"] = value
        created: dict[str, datetime] = {}
        if where.created_after is not None:
            created["$gt"] = where.created_after
        if where.created_before is not None:
            created["$lt"] = where.created_before
        if created:
            query["created_at"] = created
        if after is not None:
            query["$or"] = [
                {"created_at": {"$lt": after.created_at}},
                {"created_at": after.created_at, "_id": {"$lt": after.job_id}},
            ]
        cursor = (
            self.jobs.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [cast(JobDocument, j) for j in cursor]

    @_store_call
    def record_cancel(self, batch_job_id: str, cancel: CancelRequest) -> None:
        self.runs.update_one({"_id": batch_job_id}, {"$set": {"cancel": dict(cancel)}})

    @_store_call
    def clear_cancel(self, batch_job_id: str) -> None:
        self.runs.update_one({"_id": batch_job_id}, {"$unset": {"cancel": ""}})
