"""The service layer over in-memory fakes of its ports: submit, re-run, record, reconcile."""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.errors import (
    BatchRejected,
    BatchThrottled,
    InvalidRequest,
    JobNotFound,
    RunInProgress,
    SubmitOutcomeUnknown,
)
from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import LogLine
from overlord.ports.batch_events import BatchJobDetail
from overlord.services import reconcile, record, submit
from overlord_contracts.bucket_layout import parameters_key, result_key
from tests.unit.fakes import CONFIG, T0, FakeBatch, FakeStore


def request(**parameters: object):
    return validate_job_request({"task": "echo", "parameters": parameters or {"message": "hi"}})


def post(store, batch, objects, req=None, config=CONFIG):
    return submit.submit_job(store, batch, objects, config, req or request())


# ListJobs lists a job at once here: a lost answer's claim is held no time at all
# (lapsed once the clock has moved on: `time.sleep` past MongoDB's millisecond).
LISTED_AT_ONCE = replace(CONFIG, list_delay=timedelta(0))


def observation(sub, status, second, attempts=(), stream=None):
    return RunObservation(
        batch_job_id=sub.batch_job_id,
        job_id=sub.job_id,
        status=status,
        observed_at=T0 + timedelta(seconds=second),
        attempts=tuple(attempts),
        log_stream=stream,
    )


# ------------------------------------------------------------------------- submit


def test_a_new_submission_claims_submits_and_records_one_run(store, batch, objects):
    sub = post(store, batch, objects)
    assert sub.created and sub.run_number == 1 and sub.status == "SUBMITTED"
    assert [r.job_name for r in batch.submitted] == [sub.job_id]
    job = store.jobs[sub.job_id]
    assert job["status"] == "SUBMITTED" and job["latest_run"]["batch_job_id"] == sub.batch_job_id
    assert job["claim"] is None
    assert store.runs[sub.batch_job_id]["run"] == 1
    kinds = sorted(x["kind"] for x in store.logs.values())
    assert kinds == ["state", "submission"]


def test_the_job_definition_is_named_once_for_batch_and_the_run(store, batch, objects):
    """The deployment's prefix + the task's contract name, sent to Batch and recorded on
    the run; the retry rules sent are the task's, with the job's attempts."""
    config = replace(CONFIG, job_definition_prefix="overlord-dev-")
    sub = submit.submit_job(store, batch, objects, config, request())
    [sent] = batch.submitted
    assert sent.job_definition == "overlord-dev-overlord-echo" == config.job_definition("echo")
    assert store.runs[sub.batch_job_id]["job_definition"] == sent.job_definition
    assert sent.evaluate_on_exit == [{"onExitCode": "2", "action": "EXIT"}]
    assert sent.attempts == store.jobs[sub.job_id]["attempts"]


def test_the_same_input_again_is_the_same_job_and_no_second_batch_job(store, batch, objects):
    first = post(store, batch, objects)
    again = post(store, batch, objects)
    assert not again.created and again.job_id == first.job_id
    assert again.batch_job_id == first.batch_job_id
    assert len(batch.submitted) == 1


def test_batch_refusing_marks_the_job_submit_failed_and_the_next_post_resubmits(
    store, batch, objects
):
    batch.fail_next = BatchRejected("Batch refused the job: no such queue")
    with pytest.raises(BatchRejected):
        post(store, batch, objects)
    [job] = store.jobs.values()
    assert job["status"] == "SUBMIT_FAILED" and "no such queue" in job["status_reason"]
    again = post(store, batch, objects)
    assert again.created and len(batch.submitted) == 1


def test_throttling_is_reported_and_leaves_the_job_retryable(store, batch, objects):
    batch.fail_next = BatchThrottled("slow down")
    with pytest.raises(BatchThrottled):
        post(store, batch, objects)
    assert next(iter(store.jobs.values()))["status"] == "SUBMIT_FAILED"
    assert post(store, batch, objects).created


def test_a_lost_submit_answer_holds_the_claim_until_batch_lists_the_job(store, batch, objects):
    batch.lose_next_answer = True
    before = utcnow()  # to the millisecond, as stored
    with pytest.raises(SubmitOutcomeUnknown) as lost:
        post(store, batch, objects)
    assert lost.value.retry_after_seconds == 60
    [job] = store.jobs.values()
    assert job["status"] == "SUBMITTING" and "read timeout" in job["status_reason"]
    assert job["submit_failures"] == 1
    assert job["claim"]["expires_at"] >= before + CONFIG.list_delay
    again = post(store, batch, objects)  # ListJobs might not list it yet: nobody looks
    assert not again.created and again.status == "SUBMITTING"
    assert len(batch.submitted) == 1 and store.runs == {}


def test_a_lost_submit_answer_is_adopted_not_submitted_twice(store, batch, objects):
    batch.lose_next_answer = True
    with pytest.raises(SubmitOutcomeUnknown, match="read timeout"):
        post(store, batch, objects, config=LISTED_AT_ONCE)
    time.sleep(0.01)
    again = post(store, batch, objects, config=LISTED_AT_ONCE)
    assert again.created and len(batch.submitted) == 1
    assert again.batch_job_id in batch.jobs
    assert store.runs[again.batch_job_id]["run"] == 1
    assert store.jobs[again.job_id]["status_reason"] is None


def test_adoption_ignores_runs_that_only_the_recorder_knows(store, batch, objects, streams):
    # A lost answer, then an event for that Batch job, then the client's retry: the
    # recorder's run has no number, so the retry adopts the job instead of a second one.
    batch.lose_next_answer = True
    with pytest.raises(SubmitOutcomeUnknown, match="read timeout"):
        post(store, batch, objects, config=LISTED_AT_ONCE)
    [(lost_id, _)] = batch.jobs.items()
    job_id = batch.names[lost_id]
    event = RunObservation(lost_id, job_id, "RUNNABLE", T0)
    assert record.record_observation(store, streams, objects, event).recorded
    time.sleep(0.01)
    again = post(store, batch, objects, config=LISTED_AT_ONCE)
    assert len(batch.submitted) == 1 and again.batch_job_id == lost_id
    assert store.runs[lost_id]["run"] == 1
    assert store.jobs[job_id]["status"] == "RUNNABLE"


def test_a_lapsed_claim_is_taken_over_after_looking_for_its_batch_job(store, batch, objects):
    req = request(message="lapsed")
    stale = schema.new_job(req, T0 - timedelta(hours=1))
    store.claim_job(stale, "dead-process", T0 - timedelta(hours=1), submit.CLAIM_LEASE)
    sub = post(store, batch, objects, req)
    assert sub.created and len(batch.submitted) == 1
    assert store.jobs[sub.job_id]["status"] == "SUBMITTED"


def test_a_live_claim_is_left_alone(store, batch, objects):
    req = request(message="live")
    store.claim_job(schema.new_job(req, T0), "other-process", datetime.now(UTC), submit.CLAIM_LEASE)
    sub = post(store, batch, objects, req)
    assert not sub.created and sub.status == "SUBMITTING" and batch.submitted == []


def test_parameters_that_would_overflow_the_overrides_go_through_s3(store, batch, objects):
    big = request(message="x" * 12 * 1024)
    sub = post(store, batch, objects, big)
    [sent] = batch.submitted
    assert "OVERLORD_PARAMETERS" not in sent.environment
    assert sent.environment["OVERLORD_PARAMETERS_URI"].endswith(parameters_key(sub.job_id))
    assert sent.overrides_size() <= CONFIG.overrides_budget
    assert objects.objects[parameters_key(sub.job_id)] == big.parameters_json.encode()


def test_small_parameters_travel_inline_in_canonical_form(store, batch, objects):
    req = validate_job_request({"task": "fail", "parameters": {"message": "é", "exit_code": 1.0}})
    post(store, batch, objects, req)
    [sent] = batch.submitted
    assert sent.environment["OVERLORD_PARAMETERS"] == '{"exit_code":1,"message":"é"}'


# ------------------------------------------------------------------------- re-run


def test_a_rerun_waits_for_the_run_to_finish_then_starts_run_two(store, batch, objects, streams):
    sub = post(store, batch, objects)
    with pytest.raises(RunInProgress):
        submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    record.record_observation(store, streams, objects, observation(sub, "FAILED", 5))
    second = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    assert second.run_number == 2 and second.batch_job_id != sub.batch_job_id
    assert store.jobs[sub.job_id]["run_count"] == 2
    with pytest.raises(JobNotFound):
        submit.start_new_run(store, batch, objects, CONFIG, "job-" + "0" * 32)


def test_a_rerun_does_not_show_the_previous_result(store, batch, objects, streams):
    sub = post(store, batch, objects)
    objects.put_text(result_key(sub.job_id, sub.batch_job_id), '{"output": 1}')
    record.record_observation(store, streams, objects, observation(sub, "SUCCEEDED", 5))
    assert store.jobs[sub.job_id]["result"]["summary"] == {"output": 1}
    submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    assert store.jobs[sub.job_id]["result"] is None


# ------------------------------------------------------------------------- record


def full_history(sub):
    done = Attempt(1, T0, T0 + timedelta(seconds=4), 0, None, "def/default/x")
    return [
        observation(sub, "PENDING", 1),
        observation(sub, "RUNNABLE", 2),
        observation(sub, "STARTING", 3),
        observation(sub, "RUNNING", 4),
        observation(sub, "SUCCEEDED", 5, [done], "def/default/x"),
    ]


def snapshot(store: FakeStore):
    """The documents, less the times the submission took from the clock."""

    def plain(doc):
        kept = {k: v for k, v in doc.items() if k not in {"created_at", "updated_at"}}
        if "status_history" in kept:
            kept["status_history"] = {
                s: at for s, at in kept["status_history"].items() if s != "SUBMITTED"
            }
        return kept

    return (
        {k: plain(v) for k, v in store.jobs.items()},
        {k: plain(v) for k, v in store.runs.items()},
        sorted(store.logs),
    )


def test_events_replayed_and_shuffled_give_the_same_documents(objects, streams):
    stores = []
    for order in ("in order", "shuffled thrice"):
        store, batch = FakeStore(), FakeBatch()
        sub = post(store, batch, objects)
        events = full_history(sub)
        if order != "in order":
            rng = random.Random(7)
            events = events * 3
            rng.shuffle(events)
        streams.streams["def/default/x"] = [LogLine(T0, "hello")]
        for event in events:
            record.record_observation(store, streams, objects, event)
        stores.append(snapshot(store))
    assert stores[0] == stores[1]
    jobs, runs, logs = stores[0]
    assert next(iter(jobs.values()))["status"] == "SUCCEEDED"
    assert len(logs) == 1 + 1 + 5 + 1  # submission, SUBMITTED, five states, one line
    [run] = runs.values()
    assert run["status"] == "SUCCEEDED" and run["logs_copied"]
    assert set(run["status_history"]) == {"PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"}


def array_history(sub, size=3, failing=(1,)):
    """An array run's events: every child's states (those in `failing` end FAILED, with a
    line of their own) and the parent's, with Batch's counts of children."""
    parent, events = sub.batch_job_id, []
    for i in range(size):
        child = f"{parent}:{i}"
        end = "FAILED" if i in failing else "SUCCEEDED"
        for second, status in enumerate(["PENDING", "RUNNABLE", "STARTING", "RUNNING"], 1):
            events.append(
                RunObservation(
                    child,
                    sub.job_id,
                    status,
                    T0 + timedelta(seconds=second),
                    parent=parent,
                    index=i,
                )
            )
        done = Attempt(1, T0, T0 + timedelta(seconds=4), 1 if i in failing else 0, None, f"s/{i}")
        events.append(
            RunObservation(
                child,
                sub.job_id,
                end,
                T0 + timedelta(seconds=5),
                attempts=(done,),
                parent=parent,
                index=i,
            )
        )
    summary = {"SUCCEEDED": size - len(failing), "FAILED": len(failing)}
    final = "FAILED" if failing else "SUCCEEDED"
    events += [
        RunObservation(
            parent,
            sub.job_id,
            "PENDING",
            T0 + timedelta(seconds=2),
            array_size=size,
            status_summary={"RUNNABLE": size},
        ),
        RunObservation(
            parent,
            sub.job_id,
            final,
            T0 + timedelta(seconds=6),
            array_size=size,
            status_summary=summary,
        ),
    ]
    return events


def test_array_events_replayed_and_shuffled_give_the_same_documents(objects, streams):
    stores = []
    for order in ("in order", "shuffled thrice"):
        store, batch = FakeStore(), FakeBatch()
        req = validate_job_request(
            {"task": "echo", "items": [{"message": str(i)} for i in range(3)]}
        )
        sub = post(store, batch, objects, req)
        events = array_history(sub)
        if order != "in order":
            events = events * 3
            random.Random(11).shuffle(events)
        for i in range(3):
            streams.streams[f"s/{i}"] = [LogLine(T0, f"child {i} says hello")]
            objects.put_text(
                result_key(sub.job_id, f"{sub.batch_job_id}:{i}"), json.dumps({"i": i})
            )
        for event in events:
            record.record_observation(store, streams, objects, event)
        stores.append(snapshot(store))
    assert stores[0] == stores[1]
    jobs, runs, logs = stores[0]
    [job] = jobs.values()
    assert job["status"] == "FAILED" and job["latest_run"]["status"] == "FAILED"
    parent = runs[sub.batch_job_id]
    assert parent["array"]["status_summary"] == {"SUCCEEDED": 2, "FAILED": 1}
    assert parent["logs_copied"] and parent["result"] is None
    children = {k: v for k, v in runs.items() if k != sub.batch_job_id}
    assert {c["index"]: c["status"] for c in children.values()} == {
        0: "SUCCEEDED",
        1: "FAILED",
        2: "SUCCEEDED",
    }
    assert all(c["parent"] == sub.batch_job_id and c["run"] is None for c in children.values())
    assert children[f"{sub.batch_job_id}:2"]["result"]["summary"] == {"i": 2}
    # Per child: five states, its line and its result line; the parent: its submission,
    # SUBMITTED, PENDING and its ending.
    assert len(logs) == 3 * (5 + 1 + 1) + 4
    assert (f"{sub.batch_job_id}:1", 1, "log", 0) in logs


def test_a_late_running_event_never_undoes_succeeded(store, batch, objects, streams):
    sub = post(store, batch, objects)
    record.record_observation(store, streams, objects, observation(sub, "SUCCEEDED", 9))
    late = record.record_observation(store, streams, objects, observation(sub, "RUNNING", 4))
    assert late.recorded and not late.moved
    assert store.jobs[sub.job_id]["status"] == "SUCCEEDED"
    assert store.runs[sub.batch_job_id]["status_history"]["RUNNING"] == T0 + timedelta(seconds=4)


def test_a_second_different_ending_is_ignored(store, batch, objects, streams):
    sub = post(store, batch, objects)
    record.record_observation(store, streams, objects, observation(sub, "FAILED", 5))
    outcome = record.record_observation(store, streams, objects, observation(sub, "SUCCEEDED", 6))
    assert not outcome.moved
    assert "SUCCEEDED" not in store.runs[sub.batch_job_id]["status_history"]
    assert not any(x.get("status") == "SUCCEEDED" for x in store.logs.values())


def test_a_terminal_event_copies_result_and_lines_before_the_status_moves(
    store, batch, objects, streams
):
    sub = post(store, batch, objects)
    objects.put_text(result_key(sub.job_id, sub.batch_job_id), '{"ok": true}')
    streams.streams["s1"] = [LogLine(T0, "one"), LogLine(T0, "two")]
    streams.streams["s2"] = [LogLine(T0, "three")]
    attempts = [Attempt(1, T0, T0, 1, None, "s1"), Attempt(2, T0, T0, 0, None, "s2")]
    outcome = record.record_observation(
        store, streams, objects, observation(sub, "SUCCEEDED", 5, attempts)
    )
    assert outcome.moved and outcome.log_lines == 4  # three lines and the result line
    run = store.runs[sub.batch_job_id]
    assert run["result"]["summary"] == {"ok": True} and run["logs_copied"]
    again = record.record_observation(
        store, streams, objects, observation(sub, "SUCCEEDED", 5, attempts)
    )
    assert again.log_lines == 0 and not again.moved


def test_an_unreadable_result_and_capped_logs_are_recorded_as_such(store, batch, objects, streams):
    sub = post(store, batch, objects)
    objects.put_text(result_key(sub.job_id, sub.batch_job_id), "not json")
    streams.streams["s"] = [LogLine(T0, f"line {i}") for i in range(record.LOG_LINES_CAP + 5)]
    record.record_observation(
        store, streams, objects, observation(sub, "FAILED", 5, [Attempt(1, T0, T0, 1, None, "s")])
    )
    assert store.runs[sub.batch_job_id]["result"]["error"] == "result object is not valid JSON"
    lines = [x for x in store.logs.values() if x["kind"] == "log"]
    assert len(lines) == record.LOG_LINES_CAP + 1 and lines[-1]["truncated"]


def test_events_for_other_jobs_are_ignored_and_write_nothing(store, objects, streams):
    not_ours = RunObservation("b", "somebody-elses-job", "RUNNING", T0)
    unknown = RunObservation("b", "job-" + "f" * 32, "SUCCEEDED", T0)
    assert not record.record_observation(store, streams, objects, not_ours).recorded
    assert not record.record_observation(store, streams, objects, unknown).recorded
    assert store.runs == {} and store.logs == {}


# ---------------------------------------------------------------------- reconcile


def detail(batch_job_id: str, job_id: str, status: str, stopped_ms: int | None = None):
    return BatchJobDetail.model_validate(
        {
            "jobId": batch_job_id,
            "jobName": job_id,
            "status": status,
            "stoppedAt": stopped_ms,
            "attempts": [],
        }
    )


def test_reconcile_brings_a_run_whose_events_were_lost_to_its_true_state(
    store, batch, objects, streams
):
    sub = post(store, batch, objects)
    store.jobs[sub.job_id]["updated_at"] = T0 - timedelta(hours=1)
    stopped = int((T0 + timedelta(seconds=30)).timestamp() * 1000)
    batch.details[sub.batch_job_id] = detail(sub.batch_job_id, sub.job_id, "SUCCEEDED", stopped)
    report = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert report.moved == [sub.job_id]
    assert store.jobs[sub.job_id]["status"] == "SUCCEEDED"
    history = store.runs[sub.batch_job_id]["status_history"]
    assert history["SUCCEEDED"] == T0 + timedelta(seconds=30)  # Batch's own time


def test_reconcile_adopts_an_orphaned_claim_or_frees_it(store, batch, objects, streams):
    adopted_req, freed_req = request(message="adopt"), request(message="free")
    old = T0 - timedelta(hours=1)
    for req in (adopted_req, freed_req):
        store.claim_job(schema.new_job(req, old), "dead", old, submit.CLAIM_LEASE)
    orphan = batch.submit(
        replace(
            batch.submitted[0] if batch.submitted else _request_for(adopted_req.job_id),
            job_name=adopted_req.job_id,
        )
    )
    report = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert report.adopted == [adopted_req.job_id]
    assert report.submit_failed == [freed_req.job_id]
    assert store.jobs[adopted_req.job_id]["latest_run"]["batch_job_id"] == orphan
    assert store.jobs[freed_req.job_id]["status"] == "SUBMIT_FAILED"


def _request_for(job_id: str):
    from overlord.domain.submission import SubmitRequest

    return SubmitRequest(job_id, "q", "overlord-worker", {}, 1)


def test_reconcile_reports_runs_batch_no_longer_knows(store, batch, objects, streams):
    sub = post(store, batch, objects)
    store.jobs[sub.job_id]["updated_at"] = T0 - timedelta(hours=1)
    report = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert report.unknown_to_batch == [sub.job_id]
    assert store.jobs[sub.job_id]["reconciled_at"] is not None


def test_ids_are_unique_per_fake_batch():
    fake = FakeBatch()
    ids = {fake.submit(_request_for(f"job-{i}")) for i in itertools.islice(itertools.count(), 5)}
    assert len(ids) == 5


def test_lines_that_arrive_after_the_terminal_event_are_copied_once_by_reconcile(
    store, batch, objects, streams
):
    sub = post(store, batch, objects)
    streams.streams["s"] = [LogLine(T0, "early")]
    ended = observation(sub, "SUCCEEDED", 5, [Attempt(1, T0, T0, 0, None, "s")])
    record.record_observation(store, streams, objects, ended)
    streams.streams["s"].append(LogLine(T0, "late"))  # ingested after the event
    first = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    again = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert (first.late_log_lines, again.late_log_lines) == (1, 0)
    assert [x["message"] for x in store.logs.values() if x["kind"] == "log"] == ["early", "late"]
    assert not store.runs[sub.batch_job_id]["logs_settled"]  # still within the window
    reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=0
    )
    assert store.runs[sub.batch_job_id]["logs_settled"]
    assert store.unsettled_runs(10) == []


def test_reconcile_leaves_a_live_claim_to_its_submitter(store, batch, objects, streams):
    req = request(message="in flight")
    store.claim_job(schema.new_job(req, T0), "busy", datetime.now(UTC), submit.CLAIM_LEASE)
    store.jobs[req.job_id]["updated_at"] = T0 - timedelta(hours=1)
    report = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert report.submit_failed == [] and report.adopted == []
    assert store.jobs[req.job_id]["status"] == "SUBMITTING"


# ------------------------------------------------------------------------- tags (issue 18)


def tagged(count: int, **extra: str):
    tags = {f"k{i}": "v" for i in range(count)} | extra
    return validate_job_request({"task": "echo", "parameters": {"message": "hi"}, "tags": tags})


def test_jobs_carry_the_deployment_tag_with_the_users(store, batch, objects):
    """The tag the submitter's IAM policy conditions CancelJob/TerminateJob on."""
    config = replace(CONFIG, deployment="overlord-dev")
    submit.submit_job(store, batch, objects, config, tagged(2))
    assert batch.submitted[0].tags == {"k0": "v", "k1": "v", submit.DEPLOYMENT_TAG: "overlord-dev"}


def test_user_tags_leave_room_for_the_definitions_and_ours(store, batch, objects):
    """With propagateTags AWS fails a job whose tags and its definition's exceed 50 after
    accepting it: refuse such a request with a 400 instead, before anything is written."""
    config = replace(CONFIG, definition_tag_count=4)
    with pytest.raises(InvalidRequest, match=r"^tags: at most 45 tags here"):
        submit.submit_job(store, batch, objects, config, tagged(46))
    assert store.jobs == {} and batch.submitted == []
    submit.submit_job(store, batch, objects, config, tagged(45))
    assert len(batch.submitted[0].tags) == 46


def test_the_deployment_tag_key_is_ours(store, batch, objects):
    with pytest.raises(InvalidRequest, match=rf"^tags: {submit.DEPLOYMENT_TAG!r} is set by"):
        submit.submit_job(store, batch, objects, CONFIG, tagged(1, **{submit.DEPLOYMENT_TAG: "x"}))
    assert store.jobs == {}


# --------------------------------------------------------- image tasks without an image


def wordcount(key: str = "k"):
    return validate_job_request({"task": "wordcount", "parameters": {"s3_uri": f"s3://b/{key}"}})


def test_an_image_task_this_deployment_has_no_image_for_is_refused(store, batch, objects):
    """On AWS the catalogue's overlord-wordcount:dev would be pulled from Docker Hub and
    fail (CannotPullContainerError) after a 202: refuse it before anything is written."""
    config = replace(CONFIG, deployed_images=frozenset())
    with pytest.raises(InvalidRequest, match=r"^task: 'wordcount' runs its own container image"):
        submit.submit_job(store, batch, objects, config, wordcount())
    assert store.jobs == {} and batch.submitted == []


def test_an_image_task_with_a_deployed_image_is_submitted(store, batch, objects):
    config = replace(CONFIG, deployed_images=frozenset({"wordcount"}))
    assert submit.submit_job(store, batch, objects, config, wordcount()).created
    # None (the local stacks): every image task runs the image its catalogue file names.
    assert submit.submit_job(store, batch, objects, CONFIG, wordcount("other")).created
