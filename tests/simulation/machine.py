"""Histories: Hypothesis's stateful testing drives the real services over a store
(FakeStore or MongoStore on FerretDB) against the simulated world (world.py).

A history is a sequence of rules: clients submitting (several at once, the same input,
with SubmitJob's answer lost, slow, throttled or refused, or ListJobs failing), Batch
moving its jobs on (ListJobs listing a job only a while after it was created), events
delivered once to three times in any order and several at once, reconcile passes,
cancels, re-runs (also of the failed items only), a log follower polling, and the
clock moving. Every operation may be stopped before any of its store writes. When
the history ends it settles (Batch finishes, every event is delivered, reconcile runs)
and `invariants.check` compares the store with Batch and with a replay of the same
Batch jobs in order, once each.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from overlord.domain.status import SUBMIT_FAILED, SUBMITTING
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
FAULTS = ("ok", "ok", "lost", "slow", "throttle", "refuse", "stop", "unlisted")
BATCH_PACE = 10  # seconds Batch takes to move a job on one status (time_passes)
SETTLE_SECONDS = 60  # reconcile's settle_logs_seconds in the histories
# The Lambdas' timeouts (terraform/modules/functions' defaults): a paused operation does
# not outlive its own. The submitter's is shorter than its claim's lease (the test of
# Terraform's functions checks it), so no submitter acts on a claim that has lapsed.
SUBMITTER_TIMEOUT = timedelta(seconds=29)
RECONCILE_TIMEOUT = timedelta(seconds=300)
PATCHED_CLOCKS = (submit, record, reconcile, cancel_service)

crash_points = st.one_of(st.none(), st.none(), st.integers(1, 10))
schedules = st.lists(st.integers(0, 3), max_size=12)
# Where a long operation (`reconcile_begins`, `post_begins`) waits: its n-th store call,
# any of them. Drawn from 1-8 only, a pass with a few jobs in flight paused before it
# had read the failed submissions (its store calls for in-flight jobs come first), so
# it never acted on an older read of them; an operation that ends before its pause
# point runs to its end.
pause_points = st.one_of(st.integers(1, 8), st.integers(9, 64))
# Seeds for the switch points beyond the drawn choices (None: the running thread goes on).
# Mostly a seed: drawn as often as None (st.one_of), the interleavings that race three
# operations (two clients and reconcile: fix 4) came too rarely; None is still where
# shrinking goes.
shuffles = st.integers(-1, 2**16).map(lambda seed: None if seed < 0 else seed)
# What a POST of identical requests draws; a client's retry draws the same.
POSTS = {
    "clients": st.integers(1, 3),
    "faults": st.lists(st.sampled_from(FAULTS), max_size=2),
    "crashes": st.lists(crash_points, min_size=4, max_size=4),
    "with_reconcile": st.booleans(),
    "choices": schedules,
    "shuffle": shuffles,
    "reconcile_first": st.booleans(),
}


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
    # Whether `safety` is checked before every store write too, not only between rules
    # (a reader may look at any moment: a reconcile pass that adopts a run and then
    # repairs its children showed a wrong state only inside the pass). Cheap on
    # FakeStore; MongoStore's histories are replayed on FakeStore, which checks it.
    check_every_write: ClassVar[bool] = True
    # Another store to run the same history on once it has settled (MongoStore's
    # histories are replayed on FakeStore): both must write the same documents.
    twin: ClassVar[type[History] | None] = None
    twins_compared: ClassVar[int] = 0
    twins_diverged: ClassVar[int] = 0
    is_twin = False
    # Histories run, and the count at the first that failed (before Hypothesis shrinks
    # it): soak.run resets both, a soak reports them.
    histories: ClassVar[int] = 0
    first_failure: ClassVar[int | None] = None

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
        self.unsafe: str | None = None  # the first state `safety` refused, found mid-rule
        if type(self).check_every_write:
            self.scheduler.observe = self._observe
        self.pending: list[Delivery] = []
        self.retrying: list[int] = []  # inputs a client will send again (`retry`)
        # Operations paused midway (`reconcile_begins`, `post_begins`), with the input
        # a paused client sent (None: a reconcile pass).
        self.background: list[tuple[Any, int | None]] = []
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
        # Hypothesis calls this also when a rule or invariant has failed, or it stopped
        # drawing the history (StopTest, a BaseException), from a `finally`: then there
        # is nothing to settle, only the count to keep.
        stopped = sys.exc_info()[1]
        failed = isinstance(stopped, Exception)
        if not self.is_twin and (stopped is None or failed):
            History.histories += 1
        try:
            if stopped is None:
                self.settle()
                assert self.unsafe is None, self.unsafe
                invariants.check(self)
                if type(self).twin is not None:
                    self.compare_with_twin(type(self).twin)
        except BaseException:
            failed = True
            raise
        finally:
            if failed and not self.is_twin and History.first_failure is None:
                History.first_failure = History.histories
            # A failed history leaves its paused operations: they end now, on its own
            # store and clock, not beside the next history.
            for running, _ in self.background:
                self.scheduler.resume(running, kill=True)
            self.restore()

    def compare_with_twin(self, twin_class: type[History]) -> None:
        """Run this history's rules again, same arguments (crash points and schedules
        included), on the twin's store; the documents must be equal. Only when both saw
        the same Batch: a store that reads more often interleaves differently with the
        same schedule, and may then lead Batch elsewhere (another client submitting)."""
        trace = History.trace
        twin = twin_class()
        twin.is_twin = True
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
    _reconcile_after = 0

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

    def _reconcile(self, older_than_seconds: int | None = None) -> None:
        reconcile.reconcile(
            self.store,
            self.batch,
            self.logs,
            self.objects,
            older_than_seconds=(
                self._reconcile_after if older_than_seconds is None else older_than_seconds
            ),
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
    @initialize(
        copies=st.integers(1, 3),
        settle_crashes=st.lists(crash_points, max_size=8),
        reconcile_after=st.sampled_from([0, 60]),
        list_delay=st.sampled_from([1, 5, 30]),
    )
    def start(
        self,
        copies: int,
        settle_crashes: list[int | None] | None = None,
        reconcile_after: int = 0,
        list_delay: int = 1,
    ) -> None:
        """`settle_crashes`: the recorder stops so in the settling's first deliveries
        (each such event is delivered again), so that every history ends with its
        terminal events also met by stopped recorders.

        `reconcile_after`: the deployment's RECONCILE_AFTER_SECONDS (900 in production):
        a pass looks only at jobs untouched that long. At 0 every pass races every
        operation; at 60 retries, Batch and events have a minute to themselves first
        (an array's parent ending recorded before any adoption, say).

        `list_delay`: seconds before ListJobs lists a job just created (AWS promises no
        bound; a lost SubmitJob answer holds the claim for 60 s, and a submitter stopped
        after SubmitJob leaves it for at least the 31 s its lease outlives its Lambda)."""
        self._record("start", locals())
        self.batch.list_delay_ms = list_delay * 1000
        self._copies = copies
        self._settle_crashes = list(settle_crashes or [])
        self._reconcile_after = reconcile_after

    @rule(which=st.integers(0, len(INPUTS) - 1), **POSTS)
    def post(
        self,
        which: int,
        clients: int,
        faults: list[str],
        crashes: list[int | None],
        with_reconcile: bool,
        choices: list[int],
        shuffle: int | None = None,
        reconcile_first: bool = False,
    ) -> None:
        """`clients` identical POST /jobs at once (a retry is a later one), optionally
        with a reconcile pass among them. `reconcile_first`: the pass had read its
        jobs before the requests came (a pass reads once, then acts job after job,
        seconds to minutes): its acts meet the clients with that older read."""
        self._record("post", locals())
        self._tick()
        request = self._request(which)
        self.batch.faults = list(faults)

        def call() -> None:
            submit.submit_job(self.store, self.batch, self.objects, CONFIG, request)

        tasks = [(f"post {which} #{i}", crashes[i], call) for i in range(clients)]
        if with_reconcile:
            tasks.append(("reconcile", crashes[3], self._reconcile))
            if reconcile_first:
                # The pass starts, and goes on past its first store call (its read).
                choices = [len(tasks) - 1, 0, *choices]
        actors = self._run(
            f"post input {which} x{clients} faults={faults}", tasks, choices, shuffle
        )
        self.batch.faults = []
        if with_reconcile:
            self._reconciled(actors[-1])
        self._answered(which, actors[:clients])

    def _answered(self, which: int, clients: list[Any]) -> None:
        """A client sends again until it is told its job is submitted: after a 503, no
        answer (its submitter stopped), or a job still SUBMITTING (another's claim)."""
        job_id = admitted(which).job_id
        if any(a.crashed for a in clients):
            self.interrupted.add(job_id)
        job = self.raw.get_job(job_id)
        answered = all(not a.crashed and a.error is None for a in clients) and (
            job is not None and job["status"] not in (SUBMITTING, SUBMIT_FAILED)
        )
        if not answered and which not in self.retrying:
            self.retrying.append(which)
        elif answered and which in self.retrying:
            self.retrying.remove(which)

    def _reconciled(self, actor: Any) -> None:
        if actor.crashed:  # only reconcile brings home what a stopped pass left
            self.interrupted.update(self.requests)

    @precondition(lambda self: bool(self.retrying))
    @rule(pick=st.integers(0, 3), **POSTS)
    def retry(self, pick: int, **posted: Any) -> None:
        """A client whose request got a 503 or no answer (its submitter stopped) sends it
        again, maybe with others: a `post` of that input (the same POSTS arguments).
        Left to `post` alone, a retry of the input that failed came only one post in
        four, and seldom after Batch and the events had moved on (an adoption of an
        array whose parent had ended)."""
        self.post(self.retrying[pick % len(self.retrying)], **posted)

    # Re-runs and cancels of a job Batch never saw are refusals (409, 404), tested
    # elsewhere: here they only took a history's steps.
    @precondition(lambda self: bool(self.batch.jobs))
    @rule(which=st.integers(0, len(INPUTS) - 1), only_failed=st.booleans(), crash=crash_points)
    def rerun(self, which: int, only_failed: bool, crash: int | None) -> None:
        self._record("rerun", locals())
        self._tick()
        request = self._request(which)
        with self._one(f"rerun input {which} only_failed={only_failed}", crash, request.job_id):
            submit.start_new_run(
                self.store, self.batch, self.objects, CONFIG, request.job_id, only_failed
            )

    @precondition(lambda self: bool(self.batch.jobs))
    @rule(which=st.integers(0, len(INPUTS) - 1), crash=crash_points)
    def cancel(self, which: int, crash: int | None) -> None:
        self._record("cancel", locals())
        self._tick()
        request = self._request(which)
        with self._one(f"cancel input {which}", crash, request.job_id):
            cancel_service.cancel_job(self.store, self.batch, request.job_id, "sim", "client")

    @precondition(lambda self: bool(self.batch.jobs))
    @rule(
        pick=st.integers(0, 50),
        outcome=st.sampled_from(["succeed", "fail", "retry"]),
        moves=st.integers(1, 12),
    )
    def batch_moves(self, pick: int, outcome: str, moves: int = 1) -> None:
        """Batch makes `moves` moves, each of one of its jobs (or starts an array's
        children). Batch runs on its own, fast beside our operations: an array's
        children can all end between two of them (one move per rule needed nine rules
        for an array of two, so its parent rarely ended before a client's retry)."""
        self._record("batch_moves", locals())
        self._tick()
        for _ in range(moves):
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
                chosen.append(pick_delivery(left, pick))
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

    @precondition(lambda self: bool(self.pending))
    @rule(pick=st.integers(0, 50))
    def deliver_one(self, pick: int) -> None:
        """A Batch job's newest pending event delivered, once, by a recorder that runs
        to its end: the prompt delivery of what Batch just did, its older events left
        behind as stragglers (`deliver` has any event, concurrent ones, the stops)."""
        self._record("deliver_one", locals())
        self._tick()
        if not self.pending:  # a twin replaying the history may have delivered it already
            return
        jobs = list(dict.fromkeys(d.detail["jobId"] for d in self.pending))
        job = jobs[pick % len(jobs)]
        delivery = [d for d in self.pending if d.detail["jobId"] == job][-1]
        detail = delivery.detail
        actors = self._run(
            "deliver 1",
            [(f"event {detail['jobId']} {detail['status']}", None, self._deliver(delivery))],
            [],
        )
        if actors[0].error is None:
            delivery.copies -= 1
            if delivery.copies <= 0:
                self.pending.remove(delivery)

    @precondition(lambda self: bool(self.requests))
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
        self._reconciled(actors[0])
        if len(actors) > 1 and not actors[1].crashed and actors[1].error is None:
            d = self.pending[0]
            d.copies -= 1
            if d.copies <= 0:
                self.pending.remove(d)

    # ------------------------------------------------- operations that take a while
    @precondition(lambda self: bool(self.requests) and len(self.background) < 2)
    @rule(pause_at=pause_points, crash=crash_points)
    def reconcile_begins(self, pause_at: int, crash: int | None) -> None:
        """A reconcile pass that takes minutes (hundreds of jobs): it reads its jobs,
        then acts on each with what it read while the history goes on. It stops at its
        `pause_at`-th store call until `resume`."""
        self._record("reconcile_begins", locals())
        self._tick()
        self._begin("reconcile", crash, self._reconcile, pause_at, None, [])

    @precondition(lambda self: len(self.background) < 2)
    @rule(
        which=st.integers(0, len(INPUTS) - 1),
        pause_at=pause_points,
        crash=crash_points,
        faults=POSTS["faults"],
    )
    def post_begins(self, which: int, pause_at: int, crash: int | None, faults: list[str]) -> None:
        """A client's request whose submitter stalls (a cold start, a long GC, a slow
        network) at its `pause_at`-th store call, across other rules, until `resume`."""
        self._record("post_begins", locals())
        self._tick()
        request = self._request(which)

        def call() -> None:
            submit.submit_job(self.store, self.batch, self.objects, CONFIG, request)

        self._begin(f"post {which} (slow)", crash, call, pause_at, which, list(faults))

    @precondition(lambda self: bool(self.background))
    @rule(pick=st.integers(0, 1))
    def resume(self, pick: int) -> None:
        """A paused operation goes on to its end."""
        self._record("resume", locals())
        self._tick()
        if not self.background:  # a twin replaying the history: its operation had ended
            return
        self._resume(self.background[pick % len(self.background)])

    def _begin(
        self,
        name: str,
        crash: int | None,
        call: Callable[[], None],
        pause_at: int,
        which: int | None,
        faults: list[str],
    ) -> None:
        self._note(f"{name} begins crash_at={crash}, pauses at store call {pause_at}")
        running = self.scheduler.begin(name, crash, call, pause_at, faults)
        running.deadline = self.clock() + (
            RECONCILE_TIMEOUT if which is None else SUBMITTER_TIMEOUT
        )
        self.background.append((running, which))
        if running.ended:
            self._note(f"  {name} ended before its pause")
            self._resume((running, which))
        else:
            self._note(f"  {name} paused")

    def _resume(self, entry: tuple[Any, int | None]) -> None:
        running, which = entry
        self.background.remove(entry)
        self._note(f"{running.name} resumes")
        timed_out = running.deadline is not None and self.clock() > running.deadline
        actor = self.scheduler.resume(running, kill=timed_out)
        _expected(actor)
        if which is None:
            self._reconciled(actor)
        else:
            self._answered(which, [actor])

    # Reconcile and time passing wait for the first request: before it they act on an
    # empty world, and in 2,452 histories from one seed 1,169 never submitted anything.
    @precondition(lambda self: bool(self.requests))
    @rule(seconds=st.sampled_from([5, 30, 61, 120]))
    def time_passes(self, seconds: int) -> None:
        """Time passes (claims lapse, logs settle) and Batch runs meanwhile: every job
        it has moves on one status per BATCH_PACE seconds, succeeding (failures and
        retries are `batch_moves`'). Before, Batch moved only by `batch_moves`, one job
        at a time: an array rarely ended before the client's retry adopted it."""
        self._record("time_passes", locals())
        self._note(f"time passes {seconds}s")
        for _ in range(seconds // BATCH_PACE):
            self.clock.advance(BATCH_PACE)
            for job in list(self.batch.jobs.values()):
                if job.array_size is not None and not job.children:
                    self.batch.start_array(job)
            for job in self.batch.live():
                self.batch.step(job, "succeed")
        self.clock.advance(seconds % BATCH_PACE)

    def follow(self, which: int) -> None:
        """A client following the job's log lines reads what is there now (not a rule:
        `safe` polls every job's follower between any two operations)."""
        self._record("follow", locals())
        self._tick()
        self.poll(self._request(which).job_id)

    # Rule weights: Hypothesis picks among the rules that may run alike, and a rule
    # listed twice twice as often. Before, in 357 histories from one seed, `deliver` ran
    # 108 times against 945 `time_passes`: events were nearly all delivered in the
    # settling, after every other operation.
    deliver_again = deliver
    batch_moves_again = batch_moves
    batch_moves_more = batch_moves
    post_again = post

    def _observe(self, what: str) -> None:
        if self.unsafe is not None:
            return
        problems = invariants.safety(self)
        if problems:
            self.unsafe = (
                "\n".join(problems)
                + f"\n(seen before a write of {what})\nhistory:\n"
                + "\n".join(self.scheduler.trace)
            )

    @invariant()
    def safe(self) -> None:
        """What holds at every moment, not only once settled."""
        assert self.unsafe is None, self.unsafe
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
        actors = self.scheduler.run(tasks, choices, shuffle)
        for actor in actors:
            _expected(actor)
        return actors

    def settle(self) -> None:
        """The history's end: clients stop, Batch finishes every job, every event is
        delivered, reconcile runs until nothing is in flight; then the logs settle."""
        self._note("settle")
        while self.background:
            self._resume(self.background[0])
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
            self._reconcile(0)
            if not self.pending and not self.batch.live() and not invariants.in_flight(self):
                break
        self.clock.advance(SETTLE_SECONDS + 1)
        self._reconcile(0)
        self.clock.advance(SETTLE_SECONDS + 1)
        self._reconcile(0)
        for job_id in self.requests:
            self.poll(job_id)


def _expected(actor: Any) -> None:
    """An operation may end in an answer (OverlordError: a 503, a 409); anything else it
    raised is a defect, and the history fails with it."""
    if actor.error is not None and not isinstance(actor.error, OverlordError):
        raise actor.error


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


def pick_delivery(pending: list[Delivery], pick: int) -> Delivery:
    """A pending event: first a Batch job that has some (in the order they were
    emitted), then one of its events. Picked among all events alike, an array's
    children (five events each) crowded out the parent's few: its ending was rarely
    delivered before theirs. Every order stays reachable; 0 picks the oldest."""
    jobs = list(dict.fromkeys(d.detail["jobId"] for d in pending))
    job = jobs[pick % len(jobs)]
    theirs = [d for d in pending if d.detail["jobId"] == job]
    return theirs[(pick // len(jobs)) % len(theirs)]


def pick_of(pending: list[Delivery], delivery: Delivery) -> int:
    """The pick that `pick_delivery` turns into `delivery` (explicit histories)."""
    jobs = list(dict.fromkeys(d.detail["jobId"] for d in pending))
    job = jobs.index(delivery.detail["jobId"])
    theirs = [d for d in pending if d.detail["jobId"] == delivery.detail["jobId"]]
    return job + len(jobs) * theirs.index(delivery)


@functools.cache
def admitted(which: int) -> JobRequest:
    return submit.admit(CONFIG, validate_job_request(INPUTS[which]))


def line_identity(view: dict[str, Any]) -> tuple[str, int, str, int]:
    return (view["batch_job_id"], view["attempt"], view["kind"], view["seq"])


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
