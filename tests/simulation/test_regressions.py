"""Issue 23's defects, each as the explicit history that showed it, on both stores.

Each failed before its fix (the commit that fixed it says so); the generated histories
(test_histories.py) find them too when the fix is undone (docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.simulation import soak
from tests.simulation.machine import History, admitted, pick_of
from tests.simulation.world import Scheduler
from tests.unit.fakes import FakeStore

PLAIN, ECHO, ARRAY = 0, 1, 2
OK: list[int | None] = [None, None, None, None]


@pytest.fixture(params=["fake", "mongo"])
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[], History]]:
    factory: Callable[[Scheduler], Any]
    if request.param == "fake":
        factory = soak.fake_store
    else:
        factory = soak.mongo_store_factory(request.getfixturevalue("db"))
    cls = soak.machine(factory, request.param)
    cls.twin = None  # these histories drive Batch directly, outside the rules a twin replays
    made: list[History] = []
    yield lambda: made.append(start(cls)) or made[-1]
    for history in made:
        history.restore()


def start(cls: type[History]) -> History:
    history = cls()
    history.start(copies=1)
    return history


def post(h: History, which: int, *, faults: list[str] = (), crash: int | None = None) -> None:  # type: ignore[assignment]
    h.post(which, 1, list(faults), [crash, None, None, None], False, [])
    h.safe()


def run_batch(h: History) -> None:
    """Batch runs every job to its end (arrays' children included), succeeding."""
    while (todo := [j for j in h.batch.jobs.values() if j.array_size and not j.children]) or (
        h.batch.live()
    ):
        for job in todo:
            h.batch.start_array(job)
        for job in h.batch.live():
            h.batch.step(job, "succeed")


def deliver(h: History, where: Callable[[dict[str, Any]], bool], crash: int | None = None) -> None:
    """The pending events that `where` picks, in order, once each."""
    for delivery in [d for d in h.pending if where(d.detail)]:
        h.deliver([pick_of(h.pending, delivery)], [crash, None, None], [])
        h.safe()


def after_its_first_read(h: History) -> int:
    """The pause point of an operation whose first store call is a read: just after it
    (MongoStore's read is one more switch point inside the call)."""
    return 2 if isinstance(h.raw, FakeStore) else 3


def everything(detail: dict[str, Any]) -> bool:
    return True


def children(detail: dict[str, Any]) -> bool:
    return ":" in detail["jobId"]


def parent(detail: dict[str, Any]) -> bool:
    return ":" not in detail["jobId"]


def test_defect_1_a_child_ending_before_its_parent_is_recorded_is_counted(make):
    """The children end (their events delivered) before the submitter, retried after a
    lost answer, records the parent: the parent's own ending must end the job."""
    h = make()
    post(h, ARRAY, faults=["lost"])
    run_batch(h)
    deliver(h, children)
    post(h, ARRAY)  # the client's retry adopts the Batch job
    deliver(h, parent)
    h.teardown()


def test_defect_2_an_array_job_does_not_end_before_its_children(make):
    """The parent's ending is recorded before the submitter's record (adoption): the job
    must wait for every child's ending."""
    h = make()
    post(h, ARRAY, faults=["lost"])
    run_batch(h)
    deliver(h, parent)
    post(h, ARRAY)  # adoption, with children's endings not recorded yet: checked by h.safe
    deliver(h, children)
    h.teardown()


def test_defect_3_a_stop_while_recording_the_run_leaves_no_unnumbered_run(make):
    """The submitter stops after its third write (the old order: after pointing the job
    at run 1, before inserting it); events then create the run."""
    h = make()
    post(h, PLAIN, crash=3)
    run_batch(h)
    deliver(h, everything)
    post(h, PLAIN)  # the client's retry
    h.teardown()


def test_defect_4_reconcile_does_not_free_a_claim_taken_since_it_read(make):
    """A submitter stopped before SubmitJob (its claim lapses); two retrying clients and
    a reconcile pass interleave so that reconcile, acting on its read, would release
    the claim of the client that took the job over: the second client then submits a
    second Batch job. Since reconcile takes the claim before it acts (defect 11), this
    interleaving no longer reaches the release; the stalled pass below does."""
    h = make()
    post(h, ARRAY, crash=2)  # stopped before saving the items: Batch never asked
    h.time_passes(61)
    h.post(ARRAY, 2, [], [None, None, None, None], True, D4_SCHEDULE)
    h.safe()
    h.teardown()


# Found by searching schedules with the fix undone (on FakeStore; MongoStore interleaves
# at its own reads and writes, so there it is one more history): reconcile reads the
# lapsed claim, client 1 takes the job over, reconcile finds no Batch job and marks it
# failed, client 2 takes it and submits, client 1 submits.
D4_SCHEDULE = [3, 2, 2, 1, 1, 2, 1, 1, 2, 0, 2, 0]


def test_defect_5_reconcile_adopts_a_failed_submission_that_batch_has(make):
    """SubmitJob's answer is lost and the client gives up."""
    h = make()
    post(h, PLAIN, faults=["lost"])
    run_batch(h)
    deliver(h, everything)
    h.teardown()


def test_defect_7_created_at_is_batchs_whoever_writes_first(make):
    """The submitter records the run (its own clock, after SubmitJob answered) before
    any event: the run's created_at must still be Batch's, as when an event comes first."""
    h = make()
    post(h, PLAIN)
    run_batch(h)
    deliver(h, everything)
    h.teardown()


def test_defect_8_a_stop_between_the_run_and_the_job_is_repaired(make):
    """The recorder stops after moving the run to SUCCEEDED and before moving the job;
    the event is delivered again."""
    h = make()
    post(h, PLAIN)
    run_batch(h)
    terminal = [d for d in h.pending if d.detail["status"] == "SUCCEEDED"]
    deliver(h, lambda d: d["status"] != "SUCCEEDED")
    h.deliver([pick_of(h.pending, terminal[0])], [3, None, None], [])  # logs, run, (stop) job
    h.safe()
    h.teardown()


def test_defect_9_a_stop_after_recording_the_run_loses_no_lines(make):
    """The submitter stops after its fourth write (the old order: after the run, before
    its submission and SUBMITTED lines); the client's retry gets 200."""
    h = make()
    post(h, PLAIN, crash=4)
    post(h, PLAIN)
    run_batch(h)
    deliver(h, everything)
    h.teardown()


def test_defect_6_a_follower_sees_every_line_once(make):
    """A follower reads the lines there are, then the run ends: the result and log lines
    are stored before the terminal state line, late lines after it (a `resume` that was
    a reading position skipped the terminal state line and the late lines)."""
    h = make()
    post(h, PLAIN)
    h.follow(PLAIN)
    run_batch(h)
    deliver(h, everything)
    h.follow(PLAIN)
    h.teardown()


def test_an_array_cancelled_before_its_children_ran_keeps_batchs_last_summary(make):
    """Found by a soak on MongoStore (seed 2194868639): an array cancelled while its
    children are PENDING, its events delivered three times each."""
    h = make()
    h.start(copies=3)
    h.post(3, 1, ["ok", "ok"], [None, None, None, 7], False, [])
    h.safe()
    h.batch_moves(36, "succeed")
    h.safe()
    h.cancel(3, 10)
    h.safe()
    h.teardown()


def test_reconcile_does_not_mark_a_newer_failed_submission_as_looked_at(make):
    """Found by CI's histories: reconcile reads a SUBMIT_FAILED job, a client's retry
    takes it, submits (the answer lost: Batch has the job) and fails it again; the pass
    then marked the job looked at, from its older read, so no later pass adopted it.
    Since fix 12 the lost answer holds the claim instead of failing the job, and this
    history no longer reaches the defect; the later take-over's history below does."""
    h = make()
    h.start(copies=1)
    post(h, ECHO, faults=["throttle"])
    h.post(ECHO, 1, ["lost"], [None, None, None, None], True, [1, 0, 0, 0, 2])
    h.safe()
    h.teardown()


def test_reconcile_does_not_mark_a_failure_looked_at_through_its_in_flight_read(make):
    """Found by generated histories (the shuffled scheduler, with fix 8 undone in an
    experiment; it fails without that too): reconcile reads the job SUBMITTING (a live
    claim: left alone), the client's SubmitJob answer is lost and the job fails, and the
    pass then marks the job looked at from its in-flight read: no pass adopted it.
    Since fix 12 the lost answer leaves the job SUBMITTING, so this history no longer
    reaches the defect; it stays as a history of a pass beside a lost answer."""
    h = make()
    h.start(copies=1)
    h.post(PLAIN, 2, ["lost"], [None, None, None, None], True, [], 203)
    h.safe()
    h.teardown()


def test_a_slow_reconcile_pass_does_not_adopt_a_rerun_as_the_first_run(make):
    """Found by generated histories once operations could take a while
    (`reconcile_begins`): a pass reads a job whose submitter stopped after SubmitJob
    (its claim lapsed); within the pass's minutes the client's retry adopts Batch's job
    as run 1, the job ends and is re-run. The pass, acting on its read (run_count 0),
    took the re-run's Batch job for the unrecorded submission and recorded it as run 1
    over its number 2."""
    h = make()
    post(h, PLAIN, crash=2)  # stopped after SubmitJob, before its lines and the run
    h.time_passes(61)
    h.reconcile_begins(pause_at=after_its_first_read(h), crash=None)  # its claim lapsed
    post(h, PLAIN)  # the client's retry adopts b001 as run 1
    run_batch(h)
    deliver(h, everything)
    h.rerun(PLAIN, False, None)
    h.safe()
    h.resume(0)  # the pass acts on what it read
    h.safe()
    h.teardown()


def test_defect_4_a_stalled_reconcile_frees_only_its_own_claim(make):
    """Defect 4 since reconcile takes a claim before it acts (defect 11): a pass takes
    the lapsed claim of a stopped submitter, finds no Batch job and stalls past its
    own claim's lease (its Lambda's timeout is 300 s); a client's retry takes the job
    over and stalls before SubmitJob. The pass then releases the job: had it freed the
    client's claim, a second client would submit, and the first too."""
    h = make()
    fake = isinstance(h.raw, FakeStore)
    post(h, ARRAY, crash=2)  # stopped before saving the items: Batch never asked
    h.time_passes(61)
    h.reconcile_begins(pause_at=5 if fake else 7, crash=None)  # claimed, about to release
    h.time_passes(61)  # its claim lapses
    h.post_begins(ARRAY, pause_at=4 if fake else 6, crash=None, faults=[])  # before SubmitJob
    assert len(h.background) == 2 and not h.batch.jobs
    h.resume(0)  # the pass releases the job
    h.safe()
    post(h, ARRAY)  # another client
    h.resume(0)  # the first client goes on
    h.safe()
    h.teardown()


def test_a_lost_answer_keeps_the_claim_until_batch_lists_the_job(make):
    """Found once ListJobs lists a job only a while after it was created (SimBatch's
    `list_delay_ms`): SubmitJob's answer was lost and the submitter released its claim
    (SUBMIT_FAILED); a stalled request for the same input took it over at once, ListJobs
    did not list b001 yet, and it submitted b002: two Batch jobs for one input."""
    h = make()
    h.batch.list_delay_ms = 5000
    h.post_begins(PLAIN, pause_at=1, crash=None, faults=[])  # stalls before its claim
    post(h, PLAIN, faults=["lost"])
    h.resume(0)
    h.safe()
    assert len(h.batch.jobs) == 1
    h.teardown()


def test_reconcile_does_not_mark_a_failure_of_a_later_take_over_as_looked_at(make):
    """Defect 10 since a lost SubmitJob answer holds the claim (fix 12): a pass reads a
    throttled submission (no Batch job: nothing to adopt) and stalls. A client's retry
    takes the job over, submits b001 and stalls past its Lambda's timeout before
    recording it; once its claim has lapsed another retry takes the job over and its
    ListJobs fails: SUBMIT_FAILED again, and Batch has b001. The pass then marked the
    job looked at from its read, so no later pass adopted b001."""
    h = make()
    fake = isinstance(h.raw, FakeStore)
    post(h, ECHO, faults=["throttle"])
    h.reconcile_begins(pause_at=PASS_PAUSE[fake], crash=None)  # read, found nothing
    h.post_begins(ECHO, pause_at=CLIENT_PAUSE[fake], crash=None, faults=[])  # after SubmitJob
    assert len(h.background) == 2 and len(h.batch.jobs) == 1
    h.time_passes(61)
    post(h, ECHO, faults=["unlisted"])
    assert h.raw.get_job(admitted(ECHO).job_id)["status"] == "SUBMIT_FAILED"
    h.resume(0)  # the pass marks what it read
    h.safe()
    h.teardown()


# Where each stalls, by store (True: FakeStore; MongoStore's reads are switch points too):
# the pass after its reads and before it marks them; the client after SubmitJob.
PASS_PAUSE = {True: 4, False: 7}
CLIENT_PAUSE = {True: 4, False: 6}
