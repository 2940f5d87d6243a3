"""Histories: Hypothesis's stateful testing drives the real services over a store
(FakeStore or MongoStore on FerretDB) against the simulated world (world.py).

A history is a sequence of rules: clients submitting (several at once, the same input,
with SubmitJob's answer lost, slow, throttled or refused), Batch moving its jobs on,
events delivered once to three times in any order and several at once, reconcile
passes, cancels, re-runs (also of the failed items only), a log follower polling, and
the clock moving. Every operation may be stopped before any of its store writes. When
the history ends it settles (Batch finishes, every event is delivered, reconcile runs)
and `invariants.check` compares the store with Batch and with a replay of the same
Batch jobs in order, once each.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from overlord.domain.errors import OverlordError
from overlord.domain.request import JobRequest, validate_job_request
from overlord.domain.status import SUBMIT_FAILED
from overlord.ports.batch_events import BatchJobDetail, observe
from overlord.services import cancel as cancel_service
from overlord.services import queries, reconcile, record, submit
from tests.simulation import invariants
from tests.simulation.world import (
    Clock,
    ScheduledStore,
    Scheduler,
    SimBatch,
    SimLogs,
    SimObjects,
)
from tests.unit.fakes import CONFIG

# The inputs clients send: two plain jobs (one retried by Batch up to twice) and two
# array jobs. The same input is the same job.
INPUTS: tuple[dict[str, Any], ...] = (
    {"task": "fail", "parameters": {"message": "one"}, "attempts": 2},
    {"task": "echo", "parameters": {"message": "two"}},
    {"task": "fail", "items": [{"message": "a"}, {"message": "b"}], "attempts": 2},
    {"task": "fail", "items": [{"message": "c"}, {"message": "d"}, {"message": "e"}]},
)
FAULTS = ("ok", "ok", "lost", "slow", "throttle", "refuse")
SETTLE_SECONDS = 60  # reconcile's settle_logs_seconds in the histories
PATCHED_CLOCKS = (submit, record, reconcile, cancel_service)

crash_points = st.one_of(st.none(), st.none(), st.integers(1, 10))
schedules = st.lists(st.integers(0, 3), max_size=12)
# Seeds for the switch points beyond the drawn choices (None: the running thread goes on).
shuffles = st.one_of(st.none(), st.integers(0, 2**16))


@dataclass
class Delivery:
    detail: dict[str, Any]
    at: datetime
    copies: int  # still to deliver (EventBridge: at least once)


@dataclass
class Follower:
    """A client following a job's lines (`overlord logs --follow`): pages with `next`,
    then asks again from `resume`; a running attempt's lines come live from its stream."""

    resume: str | None = None
    seen: list[tuple[str, int, str, int]] = field(default_factory=list)


class History(RuleBasedStateMachine):
    """Subclasses set `make_store` (a Store with its writes reported to the scheduler)."""

    make_store: ClassVar[Callable[[Scheduler], Any]]
    trace: ClassVar[list[str]] = []  # the last history's operations (for a soak's report)
    # Whether each follower (`follow` rules, and a last poll once settled) must have seen
    # every line of its job exactly once (issue 23, defect 6).
    check_follower: ClassVar[bool] = True
    # Another store to run the same history on once it has settled (MongoStore's
    # histories are replayed on FakeStore): both must write the same documents.
    twin: ClassVar[type[History] | None] = None
    twins_compared: ClassVar[int] = 0
    twins_diverged: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.scheduler = Scheduler()
        self.logs = SimLogs(self.clock)
        self.objects = SimObjects()
        self.batch = SimBatch(self.clock, self.scheduler, self.logs, self.objects)
        self.batch.emit = self._emitted
        self.raw = type(self).make_store(self.scheduler)
        self.store = ScheduledStore(self.raw, self.scheduler)
        self.pending: list[Delivery] = []
        self.requests: dict[str, JobRequest] = {}
        self.followers: dict[str, Follower] = {}
        # Jobs whose submitter, re-run or cancel was stopped (or any job, once a reconcile
        # pass was): only reconcile brings those home, not events alone.
        self.interrupted: set[str] = set()
        self.program: list[tuple[str, dict[str, Any]]] = []  # the rules run, for a twin
        self._settle_crashes: list[int | None] = []
        self._saved = [(m, m.utcnow) for m in PATCHED_CLOCKS]
        for module in PATCHED_CLOCKS:
            module.utcnow = self.clock  # type: ignore[attr-defined]
        History.trace = self.scheduler.trace

    def teardown(self) -> None:
        try:
            self.settle()
            invariants.check(self)
            if type(self).twin is not None:
                self.compare_with_twin(type(self).twin)
        finally:
            self.restore()

    def compare_with_twin(self, twin_class: type[History]) -> None:
        """Run this history's rules again, same arguments (crash points and schedules
        included), on the twin's store; the documents must be equal. Only when both saw
        the same Batch: a store that reads more often interleaves differently with the
        same schedule, and may then lead Batch elsewhere (another client submitting)."""
        trace = History.trace
        twin = twin_class()
        try:
            for name, arguments in self.program:
                getattr(twin, name)(**arguments)
                twin.safe()
            twin.teardown()
        finally:
            twin.restore()
            History.trace = trace
        if twin.batch.events != self.batch.events:
            History.twins_diverged += 1
            return
        History.twins_compared += 1
        problems = invariants.differences(
            _unsubmitted_aside(invariants.comparable(invariants.documents(twin.raw))),
            _unsubmitted_aside(invariants.comparable(invariants.documents(self.raw))),
        )
        assert not problems, (
            f"{type(self).__name__} and {twin_class.__name__} differ on one history:\n  "
            + "\n  ".join(problems[:20])
            + "\nhistory:\n"
            + "\n".join(self.scheduler.trace)
        )

    def _record(self, rule_name: str, arguments: dict[str, Any]) -> None:
        kept = {k: v for k, v in arguments.items() if k != "self"}
        self.program.append((rule_name, copy.deepcopy(kept)))

    def restore(self) -> None:
        """Give the services their clock back (idempotent)."""
        for module, saved in self._saved:
            module.utcnow = saved  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ helpers
    def _emitted(self, detail: dict[str, Any]) -> None:
        self.pending.append(Delivery(detail, self.clock(), self._copies))

    _copies = 1

    def _note(self, text: str) -> None:
        self.scheduler.trace.append(text)

    def _request(self, which: int) -> JobRequest:
        request = admitted(which)
        self.requests[request.job_id] = request
        return request

    def _tick(self) -> None:
        self.clock.advance(1)

    def _deliver(self, delivery: Delivery) -> Callable[[], None]:
        def call() -> None:
            detail = BatchJobDetail.model_validate(delivery.detail)
            record.record_observation(
                self.store, self.logs, self.objects, observe(detail, delivery.at)
            )

        return call

    def _reconcile(self) -> None:
        reconcile.reconcile(
            self.store,
            self.batch,
            self.logs,
            self.objects,
            older_than_seconds=0,
            settle_logs_seconds=SETTLE_SECONDS,
        )

    @contextlib.contextmanager
    def _one(self, name: str, crash: int | None, job_id: str) -> Iterator[None]:
        """One operation on this thread: crashes end it, errors are answers (503, 409)."""
        self._note(f"{name} crash_at={crash}")
        with self.scheduler.acting(name, crash) as actor:
            try:
                yield
            except OverlordError as exc:
                self._note(f"  {name}: {type(exc).__name__}")
        if actor.crashed:
            self.interrupted.add(job_id)

    # -------------------------------------------------------------------- rules
    @initialize(copies=st.integers(1, 3), settle_crashes=st.lists(crash_points, max_size=8))
    def start(self, copies: int, settle_crashes: list[int | None] | None = None) -> None:
        """`settle_crashes`: the recorder stops so in the settling's first deliveries
        (each such event is delivered again), so that every history ends with its
        terminal events also met by stopped recorders."""
        self._record("start", locals())
        self._copies = copies
        self._settle_crashes = list(settle_crashes or [])

    @rule(
        which=st.integers(0, len(INPUTS) - 1),
        clients=st.integers(1, 3),
        faults=st.lists(st.sampled_from(FAULTS), max_size=2),
        crashes=st.lists(crash_points, min_size=4, max_size=4),
        with_reconcile=st.booleans(),
        choices=schedules,
        shuffle=shuffles,
    )
    def post(
        self,
        which: int,
        clients: int,
        faults: list[str],
        crashes: list[int | None],
        with_reconcile: bool,
        choices: list[int],
        shuffle: int | None = None,
    ) -> None:
        """`clients` identical POST /jobs at once (a retry is a later one), optionally
        with a reconcile pass among them."""
        self._record("post", locals())
        self._tick()
        request = self._request(which)
        self.batch.faults = list(faults)

        def call() -> None:
            submit.submit_job(self.store, self.batch, self.objects, CONFIG, request)

        tasks = [(f"post {which} #{i}", crashes[i], call) for i in range(clients)]
        if with_reconcile:
            tasks.append(("reconcile", crashes[3], self._reconcile))
        actors = self._run(
            f"post input {which} x{clients} faults={faults}", tasks, choices, shuffle
        )
        self.batch.faults = []
        if any(a.crashed for a in actors):
            self.interrupted.add(request.job_id)
        if with_reconcile and actors[-1].crashed:
            self.interrupted.update(self.requests)

    @rule(which=st.integers(0, len(INPUTS) - 1), only_failed=st.booleans(), crash=crash_points)
    def rerun(self, which: int, only_failed: bool, crash: int | None) -> None:
        self._record("rerun", locals())
        self._tick()
        request = self._request(which)
        with self._one(f"rerun input {which} only_failed={only_failed}", crash, request.job_id):
            submit.start_new_run(
                self.store, self.batch, self.objects, CONFIG, request.job_id, only_failed
            )

    @rule(which=st.integers(0, len(INPUTS) - 1), crash=crash_points)
    def cancel(self, which: int, crash: int | None) -> None:
        self._record("cancel", locals())
        self._tick()
        request = self._request(which)
        with self._one(f"cancel input {which}", crash, request.job_id):
            cancel_service.cancel_job(self.store, self.batch, request.job_id, "sim", "client")

    @precondition(lambda self: bool(self.batch.jobs))
    @rule(pick=st.integers(0, 50), outcome=st.sampled_from(["succeed", "fail", "retry"]))
    def batch_moves(self, pick: int, outcome: str) -> None:
        """Batch moves one of its jobs (or starts an array's children)."""
        self._record("batch_moves", locals())
        self._tick()
        starting = [
            j for j in self.batch.jobs.values() if j.array_size is not None and not j.children
        ]
        live = starting + self.batch.live()
        if not live:
            return
        job = live[pick % len(live)]
        self._note(f"batch moves {job.batch_job_id} from {job.status} ({outcome})")
        if job.array_size is not None:
            self.batch.start_array(job)
        else:
            self.batch.step(job, outcome)

    @precondition(lambda self: bool(self.pending))
    @rule(
        picks=st.lists(st.integers(0, 50), min_size=1, max_size=3),
        crashes=st.lists(crash_points, min_size=3, max_size=3),
        choices=schedules,
        shuffle=shuffles,
    )
    def deliver(
        self,
        picks: list[int],
        crashes: list[int | None],
        choices: list[int],
        shuffle: int | None = None,
    ) -> None:
        """Up to three pending events delivered at once (any of them, so in any order)."""
        self._record("deliver", locals())
        self._tick()
        chosen: list[Delivery] = []
        for pick in picks:
            left = [d for d in self.pending if d not in chosen]
            if left:
                chosen.append(left[pick % len(left)])
        tasks = [
            (f"event {d.detail['jobId']} {d.detail['status']}", crashes[i], self._deliver(d))
            for i, d in enumerate(chosen)
        ]
        actors = self._run(f"deliver {len(chosen)}", tasks, choices, shuffle)
        for delivery, actor in zip(chosen, actors, strict=True):
            if actor.crashed or actor.error is not None:
                continue  # the Lambda failed: EventBridge delivers it again
            delivery.copies -= 1
            if delivery.copies <= 0:
                self.pending.remove(delivery)

    @rule(crash=crash_points, alongside=st.booleans(), choices=schedules, shuffle=shuffles)
    def reconcile_pass(
        self, crash: int | None, alongside: bool, choices: list[int], shuffle: int | None = None
    ) -> None:
        """A reconcile pass, optionally beside a pending event's delivery."""
        self._record("reconcile_pass", locals())
        self._tick()
        tasks: list[tuple[str, int | None, Callable[[], None]]] = [
            ("reconcile", crash, self._reconcile)
        ]
        if alongside and self.pending:
            d = self.pending[0]
            tasks.append(
                (f"event {d.detail['jobId']} {d.detail['status']}", None, self._deliver(d))
            )
        actors = self._run("reconcile", tasks, choices, shuffle)
        if actors[0].crashed:
            self.interrupted.update(self.requests)
        if len(actors) > 1 and not actors[1].crashed and actors[1].error is None:
            d = self.pending[0]
            d.copies -= 1
            if d.copies <= 0:
                self.pending.remove(d)

    @rule(seconds=st.sampled_from([5, 30, 61, 120]))
    def time_passes(self, seconds: int) -> None:
        self._record("time_passes", locals())
        self.clock.advance(seconds)
        self._note(f"time passes {seconds}s")

    @rule(which=st.integers(0, len(INPUTS) - 1))
    def follow(self, which: int) -> None:
        """A client following the job's log lines reads what is there now."""
        self._record("follow", locals())
        self._tick()
        self.poll(self._request(which).job_id)

    @invariant()
    def safe(self) -> None:
        """What holds at every moment, not only once settled."""
        problems = invariants.safety(self)
        assert not problems, "\n".join(problems) + "\nhistory:\n" + "\n".join(self.scheduler.trace)
        # Each job's follower polls between any two operations (its `resume` throughout).
        if self.check_follower:
            for job_id in self.requests:
                self.poll(job_id)

    # ------------------------------------------------------------ settle, follow
    def poll(self, job_id: str) -> None:
        follower = self.followers.setdefault(job_id, Follower())
        if self.raw.get_job(job_id) is None:
            return
        cursor = follower.resume
        for _ in range(100):
            try:
                page = queries.logs_of(
                    self.raw, job_id, queries.LogQuery(cursor=cursor, limit=5), self.logs
                )
            except OverlordError as exc:
                raise AssertionError(f"the follower of {job_id} was refused: {exc}") from exc
            follower.seen += [line_identity(x) for x in page["lines"]]
            follower.resume = page["resume"]
            cursor = page["next"]
            if cursor is None:
                return

    def _run(
        self,
        title: str,
        tasks: list[tuple[str, int | None, Callable[[], None]]],
        choices: list[int],
        shuffle: int | None = None,
    ) -> list[Any]:
        shuffled = f" shuffle={shuffle}" if shuffle is not None and len(tasks) > 1 else ""
        self._note(title + shuffled + " " + ", ".join(f"[{n} crash_at={c}]" for n, c, _ in tasks))
        if not tasks:
            return []
        if len(tasks) == 1:
            name, crash, call = tasks[0]
            actor_box: list[Any] = []
            with self.scheduler.acting(name, crash) as actor:
                actor_box.append(actor)
                try:
                    call()
                except OverlordError as exc:
                    actor.error = exc
            return actor_box
        return self.scheduler.run(tasks, choices, shuffle)

    def settle(self) -> None:
        """The history's end: clients stop, Batch finishes every job, every event is
        delivered, reconcile runs until nothing is in flight; then the logs settle."""
        self._note("settle")
        first = True
        for _ in range(20):
            self.clock.advance(61)
            while self.batch.live() or any(
                j.array_size is not None and not j.children for j in self.batch.jobs.values()
            ):
                for job in list(self.batch.jobs.values()):
                    if job.array_size is not None and not job.children:
                        self.batch.start_array(job)
                for job in self.batch.live():
                    self.batch.step(job, "succeed")
            while self.pending:
                delivery = self.pending.pop(0)
                for _ in range(delivery.copies):
                    crash = self._settle_crashes.pop(0) if self._settle_crashes else None
                    name = f"event {delivery.detail['jobId']} {delivery.detail['status']}"
                    with self.scheduler.acting(name, crash) as actor:
                        self._deliver(delivery)()
                    if actor.crashed:  # the Lambda failed: EventBridge delivers it again
                        self._deliver(delivery)()
            if first:
                # Every event delivered, no reconcile yet: events alone must have brought
                # home every job whose recording no stopped process interrupted.
                problems = invariants.events_suffice(self)
                assert not problems, (
                    "\n".join(problems) + "\nhistory:\n" + "\n".join(self.scheduler.trace)
                )
                first = False
            self._reconcile()
            if not self.pending and not self.batch.live() and not invariants.in_flight(self):
                break
        self.clock.advance(SETTLE_SECONDS + 1)
        self._reconcile()
        self.clock.advance(SETTLE_SECONDS + 1)
        self._reconcile()
        for job_id in self.requests:
            self.poll(job_id)


def _unsubmitted_aside(docs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Why a job that never reached Batch failed is the history's (which client met the
    throttle, whether reconcile released a lapsed claim first): the same schedule
    interleaves differently where a store reads more often, so it is left out."""
    with_runs = {r["job_id"] for r in docs["runs"]}
    jobs = [
        {k: v for k, v in j.items() if k != "status_reason"}
        if j["_id"] not in with_runs and j["status"] == SUBMIT_FAILED
        else j
        for j in docs["jobs"]
    ]
    return {**docs, "jobs": jobs}


@functools.cache
def admitted(which: int) -> JobRequest:
    return submit.admit(CONFIG, validate_job_request(INPUTS[which]))


def line_identity(view: dict[str, Any]) -> tuple[str, int, str, int]:
    return (view["batch_job_id"], view["attempt"], view["kind"], view["seq"])


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
