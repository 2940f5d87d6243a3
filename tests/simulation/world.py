"""The simulated outside world: a clock, AWS Batch as our Batch port sees it, CloudWatch
Logs, S3, and the two tools the histories use to break things deterministically: a
scheduler that interleaves "concurrent" operations one store call at a time, and crash
points at every write the store makes.

Batch here decides what "really" happened (which Batch jobs exist, their statuses and
attempts), so that the invariants can compare the store with it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from overlord.domain.errors import BatchThrottled, BatchUnavailable, SubmitOutcomeUnknown
from overlord.domain.status import TERMINAL, RunStatus, rank
from overlord.domain.submission import SubmitRequest
from overlord.ports import BatchJobRef, CappedObject, LogLine, StreamRead
from overlord.ports.batch_events import BatchJobDetail
from overlord_contracts.bucket_layout import result_key
from overlord_contracts.worker_env import ITEM_INDEX, ITEM_INDICES

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/sim"
DEFINITION_ARN = "arn:aws:batch:us-east-1:123456789012:job-definition/sim-echo:1"
LATE_LINE_DELAY = timedelta(seconds=20)  # CloudWatch shows a run's last line this late


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Crash(BaseException):
    """The process stopped here (not an Exception: no service may catch it)."""


class Clock:
    """Sim time: moves only when the history says so, so every run of a history (and
    both stores) sees the same times."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def ms(self) -> int:
        return int(self.now.timestamp() * 1000)


# --------------------------------------------------------------- interleaving / crashes


@dataclass
class _Actor:
    name: str
    crash_at: int | None  # crash before this actor's n-th write (1-based); None: never
    writes: int = 0
    crashed: bool = False
    error: BaseException | None = None
    faults: list[str] | None = None  # SubmitJob's answers to this actor alone (else Batch's)


class Background:
    """An operation on a thread of its own that stops at its `pause_at`-th switch point
    and waits there, across the history's later rules, until `Scheduler.resume`: a
    reconcile pass that read its jobs minutes before it acts on them, a client whose
    Lambda stalls between its claim and SubmitJob. Only one thread runs at any time:
    the history's waits while this one runs, and this one waits while paused."""

    def __init__(self, name: str, actor: _Actor, pause_at: int) -> None:
        self.name, self.actor, self.pause_at = name, actor, pause_at
        self.points = 0
        self.paused = threading.Event()  # set at the pause point, or when it ended first
        self.ended = False
        self.deadline: datetime | None = None  # when its Lambda's timeout stops it
        self._go = threading.Event()
        self.thread: threading.Thread | None = None

    killed = False  # its Lambda's timeout passed while it was paused

    def point(self) -> None:
        self.points += 1
        if self.points == self.pause_at:
            self.paused.set()
            self._go.wait()
            if self.killed:
                self.actor.crashed = True
                raise Crash("the Lambda's timeout")


class Scheduler:
    """Runs "concurrent" operations on threads, exactly one at a time: a thread runs
    until its next store call or write, where `choices` (drawn by the history) picks
    who goes next. The same choices give the same interleaving, so a failure replays.

    Outside `run` (a sequential operation on the caller's thread), the switch points
    only count writes for the crash plan.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._cond = threading.Condition()
        self._turn: int | None = None
        self._alive: list[int] = []
        self._choices: list[int] = []
        self._tail: random.Random | None = None
        self.trace: list[str] = []  # what ran, in order (printed with a failure)
        # Called before every store write, with what is about to be written: the
        # history looks at the store as a reader may at any moment (History._observe).
        self.observe: Callable[[str], None] = lambda what: None

    # -- the hooks the store wrapper and the collections call
    def switch(self) -> None:
        background: Background | None = getattr(self._local, "background", None)
        if background is not None:
            background.point()
            return
        me = getattr(self._local, "index", None)
        if me is None:
            return
        with self._cond:
            self._turn = self._pick(me)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._turn == me)

    def write(self, what: str) -> None:
        self.observe(what)
        actor: _Actor | None = getattr(self._local, "actor", None)
        if actor is None:
            return
        actor.writes += 1
        if actor.crash_at is not None and actor.writes >= actor.crash_at:
            actor.crashed = True
            self.trace.append(f"  {actor.name}: crash before write {actor.writes} ({what})")
            raise Crash(what)
        self.switch()

    def crash(self, what: str) -> None:
        """The operation on this thread stops here (outside the store: a call to Batch)."""
        actor: _Actor | None = getattr(self._local, "actor", None)
        if actor is None:
            return
        actor.crashed = True
        self.trace.append(f"  {actor.name}: stopped ({what})")
        raise Crash(what)

    def current_actor(self) -> _Actor | None:
        return getattr(self._local, "actor", None)

    def _pick(self, me: int) -> int:
        if not self._alive:
            return me
        if self._choices:
            choice = self._choices.pop(0)
        else:
            # Past the drawn choices: the same thread goes on, or with `shuffle` a
            # generator seeded by the history picks at every switch point that is left.
            choice = self._tail.randrange(4) if self._tail is not None else 0
        if choice == 0 and me in self._alive:
            return me
        return self._alive[choice % len(self._alive)]

    @contextmanager
    def acting(self, name: str, crash_at: int | None) -> Iterator[_Actor]:
        """One operation on the caller's thread, with its crash plan."""
        actor = _Actor(name, crash_at)
        self._local.actor = actor
        try:
            yield actor
        except Crash:
            pass
        finally:
            self._local.actor = None

    def begin(
        self,
        name: str,
        crash_at: int | None,
        call: Callable[[], None],
        pause_at: int,
        faults: list[str] | None = None,
    ) -> Background:
        """Start `call` in the background; returns once it is paused (or has ended)."""
        background = Background(name, _Actor(name, crash_at, faults=faults), pause_at)

        def body() -> None:
            self._local.background, self._local.actor = background, background.actor
            try:
                call()
            except Crash:
                pass
            except Exception as exc:  # the operation's own answer (a 503), or a defect
                background.actor.error = exc
            finally:
                background.ended = True
                background.paused.set()

        background.thread = threading.Thread(target=body, daemon=True)
        background.thread.start()
        if not background.paused.wait(60):
            raise RuntimeError(f"{name} neither paused nor ended")
        return background

    def resume(self, background: Background, kill: bool = False) -> _Actor:
        """Let a paused background operation run to its end (alone), or with `kill` stop
        it where it waits (its Lambda's timeout passed); returns its actor."""
        if kill:
            background.killed = True
            self.trace.append(f"  {background.name}: stopped where it waited (its timeout)")
        background._go.set()
        assert background.thread is not None
        background.thread.join(60)
        if background.thread.is_alive():
            raise RuntimeError(f"{background.name} did not end once resumed (a deadlock?)")
        return background.actor

    def run(
        self,
        tasks: Sequence[tuple[str, int | None, Callable[[], None]]],
        choices: list[int],
        shuffle: int | None = None,
    ) -> list[_Actor]:
        """Run tasks (name, crash_at, call) as concurrent operations; returns each one's
        actor (crashed, or the exception it ended with)."""
        actors = [_Actor(name, crash_at) for name, crash_at, _ in tasks]
        self._choices = list(choices)
        self._tail = random.Random(shuffle) if shuffle is not None else None
        self._alive = list(range(len(tasks)))
        done = threading.Event()

        def body(index: int, call: Callable[[], None]) -> None:
            self._local.index, self._local.actor = index, actors[index]
            with self._cond:
                self._cond.wait_for(lambda: self._turn == index)
            try:
                call()
            except Crash:
                pass
            except Exception as exc:  # an operation's own error (503s): the history goes on
                actors[index].error = exc
            finally:
                with self._cond:
                    self._alive.remove(index)
                    self._turn = self._pick(index) if self._alive else None
                    if not self._alive:
                        done.set()
                    self._cond.notify_all()

        threads = [
            threading.Thread(target=body, args=(i, call), daemon=True)
            for i, (_, _, call) in enumerate(tasks)
        ]
        for t in threads:
            t.start()
        with self._cond:
            self._turn = self._pick(-1)
            self._cond.notify_all()
        if not done.wait(60):
            raise RuntimeError("the scheduler's operations did not finish (a deadlock?)")
        for t in threads:
            t.join()
        return actors


STORE_WRITES = frozenset(
    {
        "claim_job",
        "claim_new_run",
        "mark_submit_failed",
        "save_items",
        "mark_reconciled",
        "record_submitted_run",
        "apply_observation",
        "mark_logs_settled",
        "complete_array",
        "append_logs",
        "record_cancel",
        "clear_cancel",
    }
)


class ScheduledStore:
    """The Store port as the services see it in a history: every call is a point where
    another concurrent operation may run. The writes themselves (each document write the
    store makes, also inside one port call) are the crash points: the store calls
    `scheduler.write` before each (FakeStore.on_write, the MongoDB collections' proxy)."""

    def __init__(self, store: Any, scheduler: Scheduler) -> None:
        self._store = store
        self._scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.switch()
            return method(*args, **kwargs)

        return call


class HookedCollection:
    """A pymongo collection whose writes pass the scheduler's crash point first and whose
    reads are switch points (MongoStore's inside, in a history)."""

    WRITES = frozenset(
        {
            "insert_one",
            "insert_many",
            "update_one",
            "update_many",
            "find_one_and_update",
            "bulk_write",
            "delete_one",
            "delete_many",
            "replace_one",
        }
    )
    READS = frozenset({"find_one", "find", "count_documents", "aggregate"})

    def __init__(self, collection: Any, scheduler: Scheduler) -> None:
        self._collection = collection
        self._scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name in self.WRITES:

            def write(*args: Any, **kwargs: Any) -> Any:
                self._scheduler.write(f"{self._collection.name}.{name}")
                return attr(*args, **kwargs)

            return write
        if name in self.READS:

            def read(*args: Any, **kwargs: Any) -> Any:
                self._scheduler.switch()
                return attr(*args, **kwargs)

            return read
        return attr


# ------------------------------------------------------------------------------ Batch

ORDER = [s.value for s in RunStatus if s not in TERMINAL]


@dataclass
class SimJob:
    batch_job_id: str
    name: str
    created_ms: int
    attempts_allowed: int
    array_size: int | None = None
    parent: str | None = None
    index: int | None = None
    item_indices: list[int] | None = None  # a re-run's selection (the parent's)
    item: int | None = None
    status: str = RunStatus.SUBMITTED.value
    reason: str | None = None
    started_ms: int | None = None
    stopped_ms: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None  # CancelJob / TerminateJob asked
    children: list[str] = field(default_factory=list)
    summary_ms: int | None = None  # an array parent's statusSummaryLastUpdatedAt
    timeline: list[tuple[str, int]] = field(default_factory=list)  # (status, at ms)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


class SimBatch:
    """Our Batch port, in memory, deciding what Batch did. SubmitJob answers as the
    history planned (`faults`): ok, throttled (nothing created), lost (created, the
    answer a 5xx or a read timeout), unlisted (ListJobs, looking for the job, failed),
    slow (created; the answer comes after the submitter's claim has lapsed), stop (the
    submitter's process stopped, killed at its timeout say, before Batch had the call:
    nothing created, the claim left to lapse)."""

    def __init__(self, clock: Clock, scheduler: Scheduler, logs: SimLogs, objects: SimObjects):
        self.clock, self.scheduler, self.logs, self.objects = clock, scheduler, logs, objects
        self.jobs: dict[str, SimJob] = {}
        self.faults: list[str] = []
        self.events: list[dict[str, Any]] = []  # every event Batch emitted, in order
        self.emit: Callable[[dict[str, Any]], None] = lambda detail: None
        self._next = 0
        # ListJobs is eventually consistent: AWS promises no moment by which a job just
        # created is listed. A job is left out of `find_by_name` this long.
        self.list_delay_ms = 1000

    # -- the port
    def _faults(self) -> list[str]:
        actor = self.scheduler.current_actor()
        return actor.faults if actor is not None and actor.faults is not None else self.faults

    def submit(self, request: SubmitRequest) -> str:
        faults = self._faults()
        fault = faults.pop(0) if faults else "ok"
        if fault == "unlisted":  # a fault of ListJobs, which this call did not need
            fault = "ok"
        if fault == "stop":
            self.scheduler.crash("SubmitJob: the submitter stopped before Batch had it")
        if fault == "throttle":
            raise BatchThrottled("Batch throttled SubmitJob (sim)")
        if fault == "refuse":
            raise BatchUnavailable("Batch failed before creating the job (sim)")
        self._next += 1
        batch_job_id = f"b{self._next:03d}"
        env = request.environment
        indices = env.get(ITEM_INDICES)
        job = SimJob(
            batch_job_id=batch_job_id,
            name=request.job_name,
            created_ms=self.clock.ms(),
            attempts_allowed=request.attempts,
            array_size=request.array_size,
            item_indices=[int(i) for i in indices.strip("[]").split(",")] if indices else None,
            item=int(env[ITEM_INDEX]) if ITEM_INDEX in env else None,
        )
        self.jobs[batch_job_id] = job
        self._transition(job, RunStatus.SUBMITTED.value)
        self.clock.advance(0.25)  # SubmitJob's answer takes a while: Batch's createdAt is earlier
        if fault == "lost":
            raise SubmitOutcomeUnknown("Batch failed: read timeout (sim; the job was created)")
        if fault == "slow":
            self.clock.advance(61)  # beyond the claim's lease
            self.scheduler.switch()
        return batch_job_id

    def find_by_name(self, job_name: str) -> list[BatchJobRef]:
        faults = self._faults()
        if faults and faults[0] == "unlisted":
            faults.pop(0)
            raise BatchUnavailable("Batch could not list jobs: throttled (sim)")
        found = [
            BatchJobRef(j.batch_job_id, j.created_ms, j.status)
            for j in self.jobs.values()
            if j.name == job_name
            and j.parent is None
            and j.created_ms <= self.clock.ms() - self.list_delay_ms
        ]
        return sorted(found, key=lambda r: (r.created_at_ms, r.batch_job_id), reverse=True)

    def describe(self, batch_job_ids: Sequence[str]) -> list[BatchJobDetail]:
        return [
            BatchJobDetail.model_validate(self.detail(self.jobs[i]))
            for i in batch_job_ids
            if i in self.jobs
        ]

    def list_children(self, parent: str, status: str) -> list[str]:
        job = self.jobs.get(parent)
        return [c for c in (job.children if job else []) if self.jobs[c].status == status]

    def cancel(self, batch_job_id: str, reason: str) -> None:
        job = self.jobs[batch_job_id]
        if job.status in ORDER and rank(job.status) < rank(RunStatus.STARTING):
            self._stop(job, reason)

    def terminate(self, batch_job_id: str, reason: str) -> None:
        self._stop(self.jobs[batch_job_id], reason)

    def _stop(self, job: SimJob, reason: str) -> None:
        if job.ended:
            return
        job.stop_reason = reason
        for child in job.children:
            self._stop(self.jobs[child], reason)

    # -- what Batch does by itself
    def live(self) -> list[SimJob]:
        """Jobs that can take a step: not ended, and not an array parent (it follows)."""
        return [j for j in self.jobs.values() if not j.ended and j.array_size is None]

    def step(self, job: SimJob, outcome: str) -> None:
        """One move of a plain job or child: the next status, or at RUNNING the attempt's
        end (`outcome`: succeed, fail, retry)."""
        now = self.clock.ms()
        if job.stop_reason is not None and job.status != RunStatus.RUNNING:
            job.reason = job.stop_reason
            job.stopped_ms = now
            self._transition(job, RunStatus.FAILED.value)
            return
        if job.status == RunStatus.RUNNING:
            attempt = job.attempts[-1]
            failed = outcome != "succeed" or job.stop_reason is not None
            attempt["stoppedAt"] = now
            attempt["container"]["exitCode"] = 1 if failed else 0
            stream = attempt["container"]["logStreamName"]
            self.logs.write(stream, f"attempt {len(job.attempts)} ends", now)
            self.logs.write(stream, "late line", now + int(LATE_LINE_DELAY.total_seconds() * 1000))
            retry = outcome == "retry" and len(job.attempts) < job.attempts_allowed
            if failed and retry and job.stop_reason is None:
                self._transition(job, RunStatus.RUNNABLE.value)
                return
            job.stopped_ms = now
            if failed:
                job.reason = job.stop_reason or "Essential container in task exited"
            else:
                self.objects.objects[result_key(job.name, job.batch_job_id)] = b'{"ok": true}'
            self._transition(job, RunStatus.FAILED.value if failed else RunStatus.SUCCEEDED.value)
            return
        following = ORDER[ORDER.index(job.status) + 1]
        if following == RunStatus.RUNNING:
            stream = f"sim-echo/default/{job.batch_job_id}-{len(job.attempts) + 1}"
            job.attempts.append(
                {"container": {"exitCode": None, "logStreamName": stream}, "startedAt": now}
            )
            job.started_ms = now
            self.logs.write(stream, f"attempt {len(job.attempts)} starts", now)
        self._transition(job, following)

    def start_array(self, job: SimJob) -> None:
        """An array parent's first move: PENDING, with its children created (PENDING)."""
        assert job.array_size is not None
        for index in range(job.array_size):
            child = SimJob(
                batch_job_id=f"{job.batch_job_id}:{index}",
                name=job.name,
                created_ms=job.created_ms,
                attempts_allowed=job.attempts_allowed,
                parent=job.batch_job_id,
                index=index,
                status=RunStatus.PENDING.value,
            )
            self.jobs[child.batch_job_id] = child
            job.children.append(child.batch_job_id)
        job.summary_ms = self.clock.ms()
        self._transition(job, RunStatus.PENDING.value)
        for child_id in job.children:
            self._transition(self.jobs[child_id], RunStatus.PENDING.value)

    def _after_child(self, child: SimJob) -> None:
        parent = self.jobs[str(child.parent)]
        kids = [self.jobs[c] for c in parent.children]
        if child.status == RunStatus.RUNNING and parent.status == RunStatus.PENDING:
            self._transition(parent, RunStatus.RUNNING.value)
        elif all(k.ended for k in kids) and not parent.ended:
            failed = any(k.status == RunStatus.FAILED for k in kids)
            parent.stopped_ms = self.clock.ms()
            parent.reason = parent.stop_reason or ("Array Child Job failed" if failed else None)
            self._transition(
                parent, RunStatus.FAILED.value if failed else RunStatus.SUCCEEDED.value
            )

    def _transition(self, job: SimJob, status: str) -> None:
        if job.status != status or not job.timeline:
            job.status = status
        job.timeline.append((status, self.clock.ms()))
        detail = self.detail(job)
        detail["_at"] = self.clock.ms()  # the event's time (extra fields are allowed)
        self.events.append(detail)
        self.emit(detail)
        if job.parent is not None:
            # Batch dates the summary when it changes, not when it is read.
            self.jobs[job.parent].summary_ms = self.clock.ms()
        if job.parent is not None and job.status in (RunStatus.RUNNING, *TERMINAL):
            self._after_child(job)

    def detail(self, job: SimJob) -> dict[str, Any]:
        """DescribeJobs' JobDetail (and an event's detail) as of now."""
        detail: dict[str, Any] = {
            "jobId": job.batch_job_id,
            "jobName": job.name,
            "jobQueue": QUEUE_ARN,
            "jobDefinition": DEFINITION_ARN,
            "status": job.status,
            "statusReason": job.reason if job.status in TERMINAL else None,
            "createdAt": job.created_ms,
            "startedAt": job.started_ms,
            "stoppedAt": job.stopped_ms if job.status in TERMINAL else None,
            "attempts": [
                {
                    "container": dict(a["container"]),
                    "startedAt": a["startedAt"],
                    "stoppedAt": a.get("stoppedAt"),
                }
                for a in job.attempts
                if a.get("stoppedAt") is not None
            ],
        }
        if job.attempts:
            detail["container"] = {"logStreamName": job.attempts[-1]["container"]["logStreamName"]}
        if job.array_size is not None:
            summary: dict[str, int] = {}
            for child in job.children:
                status = self.jobs[child].status
                summary[status] = summary.get(status, 0) + 1
            detail["arrayProperties"] = {
                "size": job.array_size,
                "statusSummary": summary,
                "statusSummaryLastUpdatedAt": job.summary_ms,
            }
        elif job.index is not None:
            detail["arrayProperties"] = {"index": job.index}
        return detail


class SimLogs:
    """CloudWatch Logs: lines become readable at their time (a run's last line late)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.streams: dict[str, list[tuple[int, str]]] = {}

    def write(self, stream: str, message: str, at_ms: int) -> None:
        self.streams.setdefault(stream, []).append((at_ms, message))

    def read(self, stream: str, max_lines: int, max_bytes: int) -> StreamRead:
        now = self.clock.ms()
        lines = [
            LogLine(datetime.fromtimestamp(ms / 1000, tz=UTC), m)
            for ms, m in self.streams.get(stream, [])
            if ms <= now
        ]
        return StreamRead(lines[:max_lines], len(lines) > max_lines, 0)


class SimObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_text(self, key: str, text: str) -> str:
        return self.put_bytes(key, text.encode())

    def put_bytes(self, key: str, data: bytes) -> str:
        self.objects[key] = data
        return f"s3://sim/{key}"

    def get_capped(self, key: str, cap: int) -> CappedObject | None:
        body = self.objects.get(key)
        if body is None:
            return None
        return CappedObject(f"s3://sim/{key}", len(body), body if len(body) <= cap else None)
