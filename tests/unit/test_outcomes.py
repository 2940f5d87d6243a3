"""What the services report having done, which overlord.telemetry counts as metrics
(docs/design.md, "Metrics"): over the in-memory fakes of the ports."""

from __future__ import annotations

from datetime import timedelta

from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import LogLine
from overlord.services import reconcile, record, submit
from tests.unit.fakes import CONFIG, T0
from tests.unit.test_services import detail, observation, post


def test_a_jobs_own_run_ending_is_reported_once_with_its_truncated_streams(
    store, batch, objects, streams
):
    sub = post(store, batch, objects)
    streams.streams["s"] = [LogLine(T0, f"line {i}") for i in range(record.LOG_LINES_CAP + 1)]
    ended = observation(sub, "FAILED", 5, [Attempt(1, T0, T0, 1, None, "s")])
    first = record.record_observation(store, streams, objects, ended)
    assert (first.ended, first.log_streams_truncated) == ("FAILED", 1)
    again = record.record_observation(store, streams, objects, ended)
    assert (again.ended, again.log_streams_truncated, again.moved) == (None, 0, False)


def test_a_state_that_is_not_an_ending_ends_nothing(store, batch, objects, streams):
    sub = post(store, batch, objects)
    outcome = record.record_observation(store, streams, objects, observation(sub, "RUNNING", 2))
    assert outcome.moved and outcome.ended is None


def test_an_array_childs_ending_is_not_a_jobs(store, batch, objects, streams):
    req = validate_job_request({"task": "echo", "items": [{"message": "a"}, {"message": "b"}]})
    sub = submit.submit_job(store, batch, objects, CONFIG, req)
    assert sub.array_size == 2
    child = RunObservation(
        f"{sub.batch_job_id}:0",
        sub.job_id,
        "SUCCEEDED",
        T0 + timedelta(seconds=5),
        parent=sub.batch_job_id,
        index=0,
    )
    outcome = record.record_observation(store, streams, objects, child)
    assert outcome.recorded and outcome.ended is None


def test_a_plain_submission_has_no_array_size(store, batch, objects):
    assert post(store, batch, objects).array_size is None


def test_reconcile_reports_the_endings_its_repairs_reached(store, batch, objects, streams):
    sub = post(store, batch, objects)
    store.jobs[sub.job_id]["updated_at"] = T0 - timedelta(hours=1)
    stopped = int((T0 + timedelta(seconds=30)).timestamp() * 1000)
    batch.details[sub.batch_job_id] = detail(sub.batch_job_id, sub.job_id, "SUCCEEDED", stopped)
    report = reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=600
    )
    assert report.checked == 1 and report.ended == {"SUCCEEDED": 1}
