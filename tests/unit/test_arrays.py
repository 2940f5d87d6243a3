"""Array jobs in the service layer, over in-memory fakes of the ports: submit, record,
reconcile and the read side (docs/design.md, "Array jobs")."""

from __future__ import annotations

import json

import pytest

from overlord.domain.errors import InvalidRequest
from overlord.domain.item_offsets import ENTRY_SIZE, read_entry
from overlord.domain.request import validate_job_request
from overlord.services import submit
from overlord_contracts.bucket_layout import item_offsets_key, parameters_key
from tests.unit.fakes import CONFIG, T0, FakeBatch, FakeObjects, FakeStore


def array_request(n: int = 3, task: str = "echo", **item: object):
    items = [{"message": f"item {i}", **item} for i in range(n)]
    return validate_job_request({"task": task, "items": items})


def post_array(store, batch, objects, req=None):
    return submit.submit_job(store, batch, objects, CONFIG, req or array_request())


# ------------------------------------------------------------------------- submit


def test_an_array_request_is_one_submit_job_with_its_size_and_items_inline(store, batch, objects):
    req = array_request(3)
    sub = post_array(store, batch, objects, req)
    assert sub.created and sub.run_number == 1
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


def spans(objects: FakeObjects, job_id: str) -> list[bytes]:
    """The bytes of the list object that each entry of its offsets object names."""
    listed = objects.objects[parameters_key(job_id)]
    offsets = objects.objects[item_offsets_key(job_id)]
    assert len(offsets) % ENTRY_SIZE == 0
    return [
        listed[start : start + length]
        for start, length in (
            read_entry(offsets[i : i + ENTRY_SIZE]) for i in range(0, len(offsets), ENTRY_SIZE)
        )
    ]


def test_beside_a_list_in_s3_go_the_offsets_of_its_items(store, batch, objects):
    items = [{"message": f"item {i} é ☃ 𝄞 }},{{"} for i in range(1000)]
    req = validate_job_request({"task": "echo", "items": items})
    sub = post_array(store, batch, objects, req)
    [sent] = batch.submitted
    uri = sent.environment["OVERLORD_ITEMS_OFFSETS_URI"]
    assert uri == f"s3://{objects.bucket}/{item_offsets_key(sub.job_id)}"
    assert [json.loads(span) for span in spans(objects, sub.job_id)] == req.items
    assert sent.overrides_size() <= CONFIG.overrides_budget


def test_items_inline_and_parameters_in_s3_have_no_offsets(store, batch, objects):
    inline = post_array(store, batch, objects, array_request(3))
    single = submit.submit_job(
        store,
        batch,
        objects,
        CONFIG,
        validate_job_request({"task": "echo", "parameters": {"message": "x" * 12 * 1024}}),
    )
    assert [("OVERLORD_ITEMS_OFFSETS_URI" in sent.environment) for sent in batch.submitted] == [
        False,
        False,
    ]
    assert list(objects.objects) == [parameters_key(single.job_id)]
    assert inline.job_id != single.job_id


def test_a_rerun_through_s3_writes_the_same_list_and_offsets_again(store, batch, objects, streams):
    from overlord.domain.observation import RunObservation
    from overlord.services import record

    sub = post_array(store, batch, objects, array_request(1000))
    first = dict(objects.objects)
    objects.objects.clear()
    ended = RunObservation(sub.batch_job_id, sub.job_id, "FAILED", T0)
    record.record_observation(store, streams, objects, ended)
    submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    assert objects.objects == first
    first_sent, rerun_sent = batch.submitted
    assert rerun_sent.environment == first_sent.environment


def test_the_offsets_uri_counts_toward_the_overrides_budget(streams):
    """A re-run's indices stay inline only when they fit beside the list's and the
    offsets' URIs; at one character less they go through S3 too (their URI shorter)."""
    from dataclasses import replace

    from overlord_contracts.bucket_layout import selection_key

    def rerun(budget: int):
        store, batch, objects = FakeStore(), FakeBatch(), FakeObjects()
        config = replace(CONFIG, overrides_budget=budget)
        items = [{"message": f"item {i} " + "x" * 40} for i in range(100)]
        req = validate_job_request({"task": "echo", "items": items})
        sub = submit.submit_job(store, batch, objects, config, req)
        end_run(store, streams, objects, sub, sub.batch_job_id, ["FAILED", "SUCCEEDED"] * 50)
        submit.start_new_run(store, batch, objects, config, sub.job_id, only_failed=True)
        return batch.submitted[-1], objects, sub.job_id

    roomy, _, _ = rerun(1500)
    assert json.loads(roomy.environment["OVERLORD_ITEM_INDICES"]) == list(range(0, 100, 2))
    assert "OVERLORD_ITEMS_OFFSETS_URI" in roomy.environment
    budget = roomy.overrides_size() - 1
    tight, objects, job_id = rerun(budget)
    assert "OVERLORD_ITEM_INDICES" not in tight.environment
    assert json.loads(objects.objects[selection_key(job_id, 2)]) == list(range(0, 100, 2))
    assert tight.overrides_size() <= budget


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
    from overlord.domain.observation import RunObservation
    from overlord.services import record

    req = array_request(3)
    sub = post_array(store, batch, objects, req)
    ended = RunObservation(sub.batch_job_id, sub.job_id, "FAILED", T0)
    record.record_observation(store, streams, objects, ended)
    second = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id)
    assert second.run_number == 2
    first_sent, rerun_sent = batch.submitted
    assert rerun_sent.environment == first_sent.environment
    assert rerun_sent.array_size == 3


# --------------------------------------------------------------- record, reconcile


def child_detail(parent: str, job_id: str, index: int, status: str):
    from overlord.ports.batch_events import BatchJobDetail

    return BatchJobDetail.model_validate(
        {
            "jobId": f"{parent}:{index}",
            "jobName": job_id,
            "status": status,
            "arrayProperties": {"index": index},
        }
    )


def parent_detail(parent: str, job_id: str, status: str, summary: dict[str, int]):
    from overlord.ports.batch_events import BatchJobDetail

    return BatchJobDetail.model_validate(
        {
            "jobId": parent,
            "jobName": job_id,
            "status": status,
            "arrayProperties": {"size": sum(summary.values()), "statusSummary": summary},
        }
    )


def test_details_of_a_child_and_a_parent_are_observed_as_such():
    from overlord.ports.batch_events import observe

    child = observe(child_detail("p", "job-x", 7, "RUNNING"), T0)
    assert (child.parent, child.index, child.array_size) == ("p", 7, None)
    parent = observe(parent_detail("p", "job-x", "PENDING", {"RUNNING": 2}), T0)
    assert (parent.parent, parent.index, parent.array_size) == (None, None, 2)
    assert parent.status_summary == {"RUNNING": 2}


def test_child_events_move_their_own_runs_and_never_the_job(store, batch, objects, streams):
    from overlord.ports.batch_events import observe
    from overlord.services import record

    sub = post_array(store, batch, objects)
    event = observe(child_detail(sub.batch_job_id, sub.job_id, 0, "SUCCEEDED"), T0)
    assert record.record_observation(store, streams, objects, event).moved
    assert store.runs[f"{sub.batch_job_id}:0"]["status"] == "SUCCEEDED"
    job = store.jobs[sub.job_id]
    assert job["status"] == "SUBMITTED" and job["latest_run"]["status"] == "SUBMITTED"


def stale(store, job_id):
    from datetime import timedelta

    store.jobs[job_id]["updated_at"] = T0 - timedelta(hours=1)


def run_reconcile(store, batch, streams, objects, settle=600):
    from overlord.services import reconcile

    return reconcile.reconcile(
        store, batch, streams, objects, older_than_seconds=60, settle_logs_seconds=settle
    )


def test_reconcile_describes_a_stale_parent_and_repairs_children_whose_events_were_lost(
    store, batch, objects, streams
):
    from overlord.ports.batch_events import observe
    from overlord.services import record

    sub = post_array(store, batch, objects)
    parent = sub.batch_job_id
    # Child 0's ending was recorded; 1 and 2 ended in Batch with no event reaching us.
    record.record_observation(
        store, streams, objects, observe(child_detail(parent, sub.job_id, 0, "SUCCEEDED"), T0)
    )
    for index, status in enumerate(["SUCCEEDED", "FAILED", "RUNNING"]):
        batch.details[f"{parent}:{index}"] = child_detail(parent, sub.job_id, index, status)
    batch.details[parent] = parent_detail(
        parent, sub.job_id, "PENDING", {"SUCCEEDED": 1, "FAILED": 1, "RUNNING": 1}
    )
    stale(store, sub.job_id)
    report = run_reconcile(store, batch, streams, objects)
    assert report.children_repaired == 2
    assert {c.index: c.status for c in store.children(parent)} == {
        0: "SUCCEEDED",
        1: "FAILED",
        2: "RUNNING",
    }
    assert batch.described == [parent, f"{parent}:1", f"{parent}:2"]  # not child 0 again
    assert store.jobs[sub.job_id]["status"] == "PENDING"

    # The counts now agree: the next pass asks Batch about no child.
    batch.listed.clear()
    stale(store, sub.job_id)
    store.jobs[sub.job_id]["reconciled_at"] = None
    assert run_reconcile(store, batch, streams, objects).children_repaired == 0
    assert batch.listed == []


def test_an_ended_array_whose_last_child_events_were_lost_is_repaired_while_settling(
    store, batch, objects, streams
):
    from overlord.ports.batch_events import observe
    from overlord.services import record

    sub = post_array(store, batch, objects)
    parent = sub.batch_job_id
    for index in range(3):
        batch.details[f"{parent}:{index}"] = child_detail(parent, sub.job_id, index, "SUCCEEDED")
    ended = observe(parent_detail(parent, sub.job_id, "SUCCEEDED", {"SUCCEEDED": 3}), T0)
    record.record_observation(store, streams, objects, ended)  # the parent's event came
    # ... but no child's: the job does not end before its children's endings are known.
    assert store.runs[parent]["status"] == "SUCCEEDED"
    assert store.jobs[sub.job_id]["status"] == "SUBMITTED"
    report = run_reconcile(store, batch, streams, objects, settle=0)
    assert report.children_repaired == 3
    assert {c.status for c in store.children(parent)} == {"SUCCEEDED"}
    assert store.runs[parent]["logs_settled"]
    assert store.jobs[sub.job_id]["status"] == "SUCCEEDED"


def test_a_childs_detail_without_array_properties_is_known_by_its_id():
    from overlord.ports.batch_events import BatchJobDetail, observe

    detail = BatchJobDetail.model_validate({"jobId": "p-1:12", "jobName": "j", "status": "FAILED"})
    observed = observe(detail, T0)
    assert (observed.parent, observed.index) == ("p-1", 12)
    plain = BatchJobDetail.model_validate({"jobId": "p-1", "jobName": "j", "status": "FAILED"})
    assert observe(plain, T0).parent is None


# ---------------------------------------------------------------------- read side


def recorded_array(store, batch, objects, streams, ends=("SUCCEEDED", "FAILED", None)):
    """An array of three whose children reached `ends` (None: no event yet), each with a
    line of its own."""
    from overlord.domain.observation import Attempt
    from overlord.ports import LogLine
    from overlord.ports.batch_events import observe
    from overlord.services import record

    sub = post_array(store, batch, objects)
    for index, end in enumerate(ends):
        if end is None:
            continue
        streams.streams[f"s/{index}"] = [LogLine(T0, f"child {index} line")]
        event = observe(child_detail(sub.batch_job_id, sub.job_id, index, end), T0)
        event = event.__class__(
            **{**event.__dict__, "attempts": (Attempt(1, T0, T0, 0, None, f"s/{index}"),)}
        )
        record.record_observation(store, streams, objects, event)
    return sub


def test_get_job_counts_the_children_and_names_the_failed(store, batch, objects, streams):
    from overlord.services import queries

    sub = recorded_array(store, batch, objects, streams)
    view = queries.job_with_latest_run(store, sub.job_id)
    assert view["array"] == {
        "size": 3,
        "counts": {"FAILED": 1, "SUBMITTED": 1, "SUCCEEDED": 1},
        "failed_indices": [1],
    }
    assert view["items_count"] == 3
    child = queries.job_with_latest_run(store, sub.job_id, index=1)["child"]
    assert child["batch_job_id"] == f"{sub.batch_job_id}:1" and child["status"] == "FAILED"
    assert child["index"] == 1 and child["parent"] == sub.batch_job_id
    pending = queries.job_with_latest_run(store, sub.job_id, index=2)["child"]
    assert pending == {"batch_job_id": f"{sub.batch_job_id}:2", "index": 2, "status": None}


def test_logs_by_index_are_that_childs_lines(store, batch, objects, streams):
    from overlord.services import queries

    sub = recorded_array(store, batch, objects, streams)
    page = queries.logs_of(store, sub.job_id, queries.LogQuery(index=1, limit=2))
    assert {x["batch_job_id"] for x in page["lines"]} == {f"{sub.batch_job_id}:1"}
    assert all(x["run"] == 1 for x in page["lines"])
    rest = queries.logs_of(store, sub.job_id, queries.LogQuery(index=1, cursor=page["next"]))
    messages = [x["message"] for x in page["lines"] + rest["lines"]]
    assert "child 1 line" in messages and "FAILED" in messages
    assert not any("child 0" in m for m in messages)
    whole = queries.logs_of(store, sub.job_id, queries.LogQuery())
    assert {x["batch_job_id"] for x in whole["lines"]} == {sub.batch_job_id}  # the parent's


@pytest.mark.parametrize("index", [3, 10_000])
def test_an_index_beyond_the_items_is_400_naming_index(store, batch, objects, streams, index):
    from overlord.services import queries

    sub = recorded_array(store, batch, objects, streams)
    for call in (
        lambda: queries.job_with_latest_run(store, sub.job_id, index=index),
        lambda: queries.logs_of(store, sub.job_id, queries.LogQuery(index=index)),
    ):
        with pytest.raises(InvalidRequest, match=r"^index: 3|^index: 10000"):
            call()


def test_an_index_on_a_single_job_is_400_naming_index(store, batch, objects):
    from overlord.services import queries

    req = validate_job_request({"task": "echo", "parameters": {"message": "one"}})
    sub = submit.submit_job(store, batch, objects, CONFIG, req)
    with pytest.raises(InvalidRequest, match=r"^index: job .* is not an array job"):
        queries.job_with_latest_run(store, sub.job_id, index=0)
    with pytest.raises(InvalidRequest, match=r"^index: job .* is not an array job"):
        queries.logs_of(store, sub.job_id, queries.LogQuery(index=0))
    assert "array" not in queries.job_with_latest_run(store, sub.job_id)


# ------------------------------------------------------------ re-run of the failed


def end_run(store, streams, objects, sub, run_id, outcomes, job_id=None):
    """Events for every child of array run `run_id` (outcomes[i] for child i), then the
    parent's ending with Batch's count."""
    from overlord.ports.batch_events import observe
    from overlord.services import record

    job_id = job_id or sub.job_id
    for index, status in enumerate(outcomes):
        event = observe(child_detail(run_id, job_id, index, status), T0)
        record.record_observation(store, streams, objects, event)
    summary = {s: outcomes.count(s) for s in set(outcomes)}
    final = "FAILED" if "FAILED" in outcomes else "SUCCEEDED"
    event = observe(parent_detail(run_id, job_id, final, summary), T0)
    record.record_observation(store, streams, objects, event)


def test_rerunning_the_failed_items_runs_only_them_and_the_job_counts_latest_outcomes(
    store, batch, objects, streams
):
    from overlord.ports.batch_events import BatchJobDetail, observe
    from overlord.services import queries, record

    sub = post_array(store, batch, objects, array_request(5))
    end_run(
        store, streams, objects, sub, sub.batch_job_id, ["SUCCEEDED", "FAILED"] * 2 + ["SUCCEEDED"]
    )
    assert queries.job_with_latest_run(store, sub.job_id)["array"]["failed_indices"] == [1, 3]

    second = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)
    sent = batch.submitted[-1]
    assert sent.as_api()["arrayProperties"] == {"size": 2}
    assert sent.environment["OVERLORD_ITEM_INDICES"] == "[1,3]"
    assert json.loads(sent.environment["OVERLORD_ITEMS"])[3] == {"message": "item 3"}
    assert store.runs[second.batch_job_id]["array"] == {"size": 2, "indices": [1, 3]}
    assert "selection" not in store.jobs[sub.job_id]  # kept only until the run is recorded

    # Child 0 of run 2 is item 1: it succeeds now; child 1 (item 3) fails again.
    end_run(store, streams, objects, sub, second.batch_job_id, ["SUCCEEDED", "FAILED"])
    view = queries.job_with_latest_run(store, sub.job_id, index=1)
    assert view["status"] == "FAILED"
    assert view["array"] == {
        "size": 5,
        "counts": {"FAILED": 1, "SUCCEEDED": 4},
        "failed_indices": [3],
    }
    assert view["child"]["batch_job_id"] == f"{second.batch_job_id}:0"
    lines = queries.logs_of(store, sub.job_id, queries.LogQuery(index=1))["lines"]
    assert {(x["run"], x["batch_job_id"]) for x in lines} == {
        (1, f"{sub.batch_job_id}:1"),
        (2, f"{second.batch_job_id}:0"),
    }
    with pytest.raises(InvalidRequest, match=r"^index: run 2 of job .* did not run item 0"):
        queries.logs_of(store, sub.job_id, queries.LogQuery(index=0, run_number=2))

    # One failed item left: Batch has no array of one, so it runs as a plain job.
    third = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)
    sent = batch.submitted[-1]
    assert "arrayProperties" not in sent.as_api()
    assert sent.environment["OVERLORD_ITEM_INDEX"] == "3"
    assert store.runs[third.batch_job_id]["item"] == 3
    done = BatchJobDetail.model_validate(
        {"jobId": third.batch_job_id, "jobName": sub.job_id, "status": "SUCCEEDED"}
    )
    record.record_observation(store, streams, objects, observe(done, T0))
    view = queries.job_with_latest_run(store, sub.job_id, index=3)
    assert view["status"] == "SUCCEEDED"
    assert view["array"]["counts"] == {"SUCCEEDED": 5} and view["array"]["failed_indices"] == []
    assert view["child"]["batch_job_id"] == third.batch_job_id

    from overlord.domain.errors import NothingToRerun

    with pytest.raises(NothingToRerun, match=r"^only: no item of job"):
        submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)


def test_failed_only_is_refused_for_a_single_job_and_while_children_are_unrecorded(
    store, batch, objects, streams
):
    from overlord.domain.errors import RunInProgress
    from overlord.ports.batch_events import observe
    from overlord.services import record

    single = submit.submit_job(
        store,
        batch,
        objects,
        CONFIG,
        validate_job_request({"task": "echo", "parameters": {"message": "x"}}),
    )
    with pytest.raises(InvalidRequest, match=r"^only: job .* is not an array job"):
        submit.start_new_run(store, batch, objects, CONFIG, single.job_id, only_failed=True)

    sub = post_array(store, batch, objects)
    with pytest.raises(RunInProgress):
        submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)
    # The parent ended with two failed children; one child's event has not come yet.
    event = observe(child_detail(sub.batch_job_id, sub.job_id, 0, "FAILED"), T0)
    record.record_observation(store, streams, objects, event)
    ended = parent_detail(sub.batch_job_id, sub.job_id, "FAILED", {"FAILED": 2, "SUCCEEDED": 1})
    record.record_observation(store, streams, objects, observe(ended, T0))
    # The job has not ended: its run has, but not every child's ending is recorded.
    assert store.runs[sub.batch_job_id]["status"] == "FAILED"
    with pytest.raises(RunInProgress, match="is SUBMITTED; a new run can start once"):
        submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)
    assert store.jobs[sub.job_id]["status"] == "SUBMITTED" and len(batch.submitted) == 2


def test_a_long_list_of_failed_items_goes_through_s3_with_the_items(store, batch, objects, streams):
    from overlord_contracts.bucket_layout import selection_key

    sub = post_array(store, batch, objects, array_request(3000))
    outcomes = ["FAILED", "SUCCEEDED"] * 1500
    end_run(store, streams, objects, sub, sub.batch_job_id, outcomes)
    second = submit.start_new_run(store, batch, objects, CONFIG, sub.job_id, only_failed=True)
    sent = batch.submitted[-1]
    assert sent.array_size == 1500 and sent.overrides_size() <= CONFIG.overrides_budget
    uri = sent.environment["OVERLORD_ITEM_INDICES_URI"]
    assert uri.endswith(selection_key(sub.job_id, 2))
    assert json.loads(objects.objects[selection_key(sub.job_id, 2)]) == list(range(0, 3000, 2))
    assert store.runs[second.batch_job_id]["array"]["indices"][:3] == [0, 2, 4]


def test_a_lost_answer_to_a_partial_rerun_is_adopted_with_its_items(store, batch, objects, streams):
    import time
    from dataclasses import replace
    from datetime import timedelta

    from overlord.domain.errors import SubmitOutcomeUnknown

    listed_at_once = replace(CONFIG, list_delay=timedelta(0))  # no claim held after
    sub = post_array(store, batch, objects, array_request(4))
    end_run(store, streams, objects, sub, sub.batch_job_id, ["FAILED", "SUCCEEDED"] * 2)
    batch.lose_next_answer = True
    with pytest.raises(SubmitOutcomeUnknown):
        submit.start_new_run(store, batch, objects, listed_at_once, sub.job_id, only_failed=True)
    assert store.jobs[sub.job_id]["selection"] == [0, 2]
    time.sleep(0.01)  # the claim, held no time, has lapsed
    # The client sends the original request again: the lost Batch job is adopted as what
    # it is, a run of items 0 and 2.
    again = post_array(store, batch, objects, array_request(4))
    assert again.created and again.run_number == 2 and len(batch.submitted) == 2
    assert store.runs[again.batch_job_id]["array"] == {"size": 2, "indices": [0, 2]}


@pytest.mark.parametrize("parent_first", [True, False])
def test_an_array_job_ends_when_its_parent_and_every_childs_ending_are_recorded(
    store, batch, objects, streams, parent_first
):
    """EventBridge may deliver the parent's ending before its children's: the job ends
    with whichever comes last, and its counts then hold every child's outcome."""
    from overlord.ports.batch_events import observe
    from overlord.services import queries, record

    sub = post_array(store, batch, objects)
    parent = sub.batch_job_id
    ended = observe(parent_detail(parent, sub.job_id, "FAILED", {"SUCCEEDED": 2, "FAILED": 1}), T0)
    children = [
        observe(child_detail(parent, sub.job_id, i, s), T0)
        for i, s in enumerate(["SUCCEEDED", "FAILED", "SUCCEEDED"])
    ]
    events = [ended, *children] if parent_first else [*children, ended]
    for event in events[:-1]:
        record.record_observation(store, streams, objects, event)
        assert store.jobs[sub.job_id]["status"] == "SUBMITTED"
    record.record_observation(store, streams, objects, events[-1])
    view = queries.job_with_latest_run(store, sub.job_id)
    assert view["status"] == "FAILED"
    assert view["array"]["counts"] == {"FAILED": 1, "SUCCEEDED": 2}
    # Duplicates count nothing twice.
    for event in events:
        record.record_observation(store, streams, objects, event)
    assert store.runs[parent]["array"]["ended"] == 3


def test_an_array_job_ends_with_its_parent_whatever_its_count_said(store, batch, objects, streams):
    """The count is the children's recorded endings, recounted by whoever writes an
    ending last: a stale `array.ended` (a recorder stopped, a child before the parent
    existed) no longer holds the job (issue 23, defect 1)."""
    from overlord.ports.batch_events import observe
    from overlord.services import record

    sub = post_array(store, batch, objects)
    parent = sub.batch_job_id
    for index in range(3):
        event = observe(child_detail(parent, sub.job_id, index, "SUCCEEDED"), T0)
        record.record_observation(store, streams, objects, event)
    store.runs[parent].setdefault("array", {"size": 3})["ended"] = 2  # type: ignore[typeddict-item]
    summary = {"SUCCEEDED": 3}
    record.record_observation(
        store,
        streams,
        objects,
        observe(parent_detail(parent, sub.job_id, "SUCCEEDED", summary), T0),
    )
    assert store.jobs[sub.job_id]["status"] == "SUCCEEDED"
    assert store.runs[parent]["array"]["ended"] == 3
