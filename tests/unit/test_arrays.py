"""Array jobs in the service layer, over in-memory fakes of the ports: submit, record,
reconcile and the read side (docs/design.md, "Array jobs")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from overlord.bucket_layout import parameters_key
from overlord.catalogue import catalogue
from overlord.errors import InvalidRequest
from overlord.request import validate_job_request
from overlord.services import submit
from tests.unit.fakes import FakeBatch, FakeLogStreams, FakeObjects, FakeStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = submit.SubmitConfig(
    job_queue="q", catalogue=catalogue(), definition_prefix="", overrides_budget=6144
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def batch() -> FakeBatch:
    return FakeBatch()


@pytest.fixture
def objects() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def streams() -> FakeLogStreams:
    return FakeLogStreams()


def array_request(n: int = 3, task: str = "echo", **item: object):
    items = [{"message": f"item {i}", **item} for i in range(n)]
    return validate_job_request({"task": task, "items": items})


def post_array(store, batch, objects, req=None):
    return submit.submit_job(store, batch, objects, CONFIG, req or array_request())


# ------------------------------------------------------------------------- submit


def test_an_array_request_is_one_submit_job_with_its_size_and_items_inline(store, batch, objects):
    req = array_request(3)
    sub = post_array(store, batch, objects, req)
    assert sub.created and sub.run == 1
    [sent] = batch.submitted
    assert sent.as_api()["arrayProperties"] == {"size": 3}
    assert json.loads(sent.environment["OVERLORD_ITEMS"]) == req.items
    assert "OVERLORD_PARAMETERS" not in sent.environment
    job = store.jobs[sub.job_id]
    assert job["items_count"] == 3 and job["parameters"] is None
    assert store.items[sub.job_id]["items"] == req.items
    assert store.runs[sub.batch_job_id]["array"] == {"size": 3}


def test_the_same_list_again_is_the_same_job(store, batch, objects):
    first = post_array(store, batch, objects)
    again = post_array(store, batch, objects)
    assert not again.created and again.job_id == first.job_id
    assert len(batch.submitted) == 1


def test_a_large_list_goes_through_s3_and_the_worker_gets_its_uri(store, batch, objects):
    req = array_request(1000)
    sub = post_array(store, batch, objects, req)
    [sent] = batch.submitted
    assert "OVERLORD_ITEMS" not in sent.environment
    assert sent.environment["OVERLORD_ITEMS_URI"].endswith(parameters_key(sub.job_id))
    assert objects.objects[parameters_key(sub.job_id)] == req.input_json.encode()
    assert sent.overrides_size() <= CONFIG.overrides_budget


def test_each_item_is_checked_against_the_task_and_nothing_is_written(store, batch, objects):
    items = [{"seconds": 1}, {"seconds": "x"}, {}, {"seconds": 1, "colour": "red"}]
    req = validate_job_request({"task": "sleep", "items": items})
    with pytest.raises(InvalidRequest) as caught:
        post_array(store, batch, objects, req)
    message = str(caught.value)
    assert message.startswith("items[1].seconds: 'x' is not of type"), message
    assert "items[2].seconds: is required" in message
    assert "items[3].colour: is not a parameter of this task" in message
    assert store.jobs == {} and store.items == {} and batch.submitted == []


def test_many_bad_items_are_named_up_to_a_limit_and_counted(store, batch, objects):
    req = validate_job_request({"task": "sleep", "items": [{"seconds": "x"}] * 100})
    with pytest.raises(InvalidRequest) as caught:
        post_array(store, batch, objects, req)
    message = str(caught.value)
    assert "items[19].seconds" in message and "items[20]" not in message
    assert message.endswith("items: 80 more items fail the task's schema")


def test_a_rerun_of_an_array_job_reads_its_items_back(store, batch, objects, streams):
    from overlord.observation import RunObservation
    from overlord.services import record

    req = array_request(3)
    sub = post_array(store, batch, objects, req)
    ended = RunObservation(sub.batch_job_id, sub.job_id, "FAILED", T0)
    record.record_observation(store, streams, objects, ended)
    second = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    assert second.run == 2
    first_sent, rerun_sent = batch.submitted
    assert rerun_sent.environment == first_sent.environment
    assert rerun_sent.array_size == 3
