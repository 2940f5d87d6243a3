"""Array jobs through the real handlers: MongoDB (FerretDB or mongo) and moto over HTTP."""

from __future__ import annotations

import json

import pytest

from overlord.adapters.aws import client
from overlord.adapters.s3 import ObjectStore
from overlord.domain.item_offsets import ENTRY_SIZE, entry_start, read_entry
from overlord_contracts.bucket_layout import item_offsets_key, parameters_key, result_key
from overlord_contracts.worker_env import WorkerEnvironment
from overlord_submitter.handler import lambda_handler
from overlord_worker.service import run_task
from tests.conftest import JOB_QUEUE, RESULTS_BUCKET
from tests.support.api import Api
from tests.support.s3gets import counting_gets


@pytest.fixture
def api(app_env):
    return Api(lambda_handler)


def echo_items(n: int, prefix: str = "item") -> list[dict[str, str]]:
    return [{"message": f"{prefix} {i}"} for i in range(n)]


def test_post_items_is_one_array_submit_job_and_the_items_are_stored(api, db, aws):
    items = echo_items(3)
    status, _, body = api.post("/jobs", {"task": "echo", "items": items})
    assert status == 202, body
    [described] = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"]
    assert described["jobName"] == body["job_id"]
    assert described["arrayProperties"]["size"] == 3
    env = {e["name"]: e["value"] for e in described["container"]["environment"]}
    assert json.loads(env["OVERLORD_ITEMS"]) == items
    named = aws.batch.list_jobs(
        jobQueue=JOB_QUEUE, filters=[{"name": "JOB_NAME", "values": [body["job_id"]]}]
    )["jobSummaryList"]
    assert body["batch_job_id"] in {j["jobId"] for j in named}  # one SubmitJob (moto lists
    # the children under the queue too, each `<parent>:<index>`)
    assert {j["jobId"] for j in named} - {body["batch_job_id"]} <= {
        f"{body['batch_job_id']}:{i}" for i in range(3)
    }

    job = db.jobs.find_one({"_id": body["job_id"]})
    assert job["items_count"] == 3 and job["parameters"] is None
    assert "items" not in job
    assert db["items"].find_one({"_id": body["job_id"]})["items"] == items
    run = db.runs.find_one({"_id": body["batch_job_id"]})
    assert run["array"] == {"size": 3} and run["run"] == 1

    again = api.post("/jobs", {"task": "echo", "items": items})
    assert again[0] == 200 and again[2]["job_id"] == body["job_id"]


def test_a_long_list_goes_to_s3_with_offsets_and_a_child_reads_only_its_item(api, aws):
    # Some items with characters of two to four bytes in UTF-8 and the list's separators;
    # ~9 kB in all, beyond the inline budget. Not thousands: moto's Batch starts a thread
    # per child (and, where a Docker engine answers, tries to pull the image for each),
    # which starved the other tests of the shared moto server in CI.
    items = [
        {"message": f"item {i} " + ('é ☃ 𝄞 },{ "]' * 10 if i % 7 == 0 else "x" * 150)}
        for i in range(60)
    ]
    status, _, body = api.post("/jobs", {"task": "echo", "items": items})
    assert status == 202, body
    [described] = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"]
    env = {e["name"]: e["value"] for e in described["container"]["environment"]}
    assert "OVERLORD_ITEMS" not in env
    assert env["OVERLORD_ITEMS_URI"] == f"s3://{RESULTS_BUCKET}/{parameters_key(body['job_id'])}"
    offsets_uri = f"s3://{RESULTS_BUCKET}/{item_offsets_key(body['job_id'])}"
    assert env["OVERLORD_ITEMS_OFFSETS_URI"] == offsets_uri

    def stored(key: str) -> bytes:
        return aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read()

    listed, offsets = (
        stored(parameters_key(body["job_id"])),
        stored(item_offsets_key(body["job_id"])),
    )
    assert json.loads(listed) == items  # the list object is the whole list, as before
    assert len(offsets) == ENTRY_SIZE * len(items)
    for index, item in enumerate(items):
        start, length = read_entry(offsets[entry_start(index) : entry_start(index) + ENTRY_SIZE])
        assert json.loads(listed[start : start + length]) == item

    objects = ObjectStore(RESULTS_BUCKET)
    for index in (0, 7, 59):
        child = WorkerEnvironment.from_env(
            {
                **env,
                "AWS_BATCH_JOB_ID": f"{body['batch_job_id']}:{index}",
                "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
                "RESULTS_BUCKET": RESULTS_BUCKET,
            }
        )
        with counting_gets(client("s3")) as gets:
            assert run_task(child, objects) == 0
        own = len(json.dumps(items[index], ensure_ascii=False, separators=(",", ":")).encode())
        assert gets.sizes == [ENTRY_SIZE, own], (gets, len(listed))
        assert gets.ranges[0] == f"bytes={16 * index}-{16 * index + 15}"
        result = json.loads(stored(result_key(body["job_id"], child.batch_job_id)))
        assert result["index"] == index and result["output"] == items[index]


def test_bad_items_are_400_naming_the_item_and_write_nothing(api, db, aws):
    status, _, body = api.post(
        "/jobs", {"task": "sleep", "items": [{"seconds": 1}, {"seconds": 2}, {"seconds": "x"}]}
    )
    assert status == 400, body
    assert body["detail"].startswith("items[2].seconds: 'x' is not of type")
    assert body["errors"][0]["field"] == "items[2].seconds"
    assert db.jobs.count_documents({}) == 0 and db["items"].count_documents({}) == 0


def test_a_lost_array_submission_adopts_the_parent_never_a_child(api, db, aws):
    """moto lists an array's children under the queue too, named like the parent, and a
    child can be the newest of them: adoption must pick the parent."""
    from overlord.runtime import wiring
    from tests.conftest import environment

    request = {"task": "echo", "items": echo_items(3, "answer lost")}
    with environment(AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9"):
        wiring.reset()
        assert api.post("/jobs", request)[0] == 503
    wiring.reset()
    job_id = db.jobs.find_one()["_id"]
    reached = aws.batch.submit_job(
        jobName=job_id,
        jobQueue=JOB_QUEUE,
        jobDefinition="overlord-echo",
        arrayProperties={"size": 3},
    )["jobId"]

    status, _, body = api.post("/jobs", request)
    assert status == 202 and body["batch_job_id"] == reached
    assert db.runs.find_one({"_id": reached})["array"] == {"size": 3}


def test_array_events_shuffled_thrice_give_the_documents_of_one_ordered_delivery(
    api, db, aws, lambda_context
):
    import random
    import uuid

    from overlord_recorder.handler import lambda_handler as recorder
    from tests.integration.test_recorder import put_logs, put_result
    from tests.support.events import array_events

    _, _, body = api.post("/jobs", {"task": "echo", "items": echo_items(3, uuid.uuid4().hex)})
    job_id, parent = body["job_id"], body["batch_job_id"]
    streams = [f"overlord-echo/default/{uuid.uuid4().hex}" for _ in range(3)]
    for index, stream in enumerate(streams):
        put_logs(aws, stream, [f"child {index} line"])
        put_result(aws, job_id, f"{parent}:{index}", {"index": index})
    events = array_events(job_id, parent, streams, failing=frozenset({1}))
    as_submitted = {name: list(db[name].find()) for name in ("jobs", "runs", "logs")}

    def documents():
        volatile = {"updated_at", "_id"}
        return {
            name: sorted(
                (
                    {
                        k: v
                        for k, v in d.items()
                        if k not in volatile or (name == "runs" and k == "_id")
                    }
                    for d in db[name].find({"_id" if name == "jobs" else "job_id": job_id})
                ),
                key=repr,
            )
            for name in ("jobs", "runs", "logs")
        }

    outcomes = [recorder(e, lambda_context) for e in events]
    assert all(o["recorded"] for o in outcomes)
    ordered = documents()
    for name, docs in as_submitted.items():
        db[name].delete_many({})
        db[name].insert_many(docs)
    shuffled = events * 3
    random.Random(5).shuffle(shuffled)
    for event in shuffled:
        recorder(event, lambda_context)
    again = documents()
    for name in ordered:
        for before, after in zip(ordered[name], again[name], strict=True):
            assert after == before, {
                k: (before.get(k), after.get(k))
                for k in before | after
                if before.get(k) != after.get(k)
            }

    job = db.jobs.find_one({"_id": job_id})
    assert job["status"] == "FAILED" and job["latest_run"]["batch_job_id"] == parent
    run = db.runs.find_one({"_id": parent})
    assert run["array"]["size"] == 3
    assert run["array"]["status_summary"]["FAILED"] == 1
    children = {c["index"]: c for c in db.runs.find({"parent": parent})}
    assert {i: c["status"] for i, c in children.items()} == {
        0: "SUCCEEDED",
        1: "FAILED",
        2: "SUCCEEDED",
    }
    assert children[1]["_id"] == f"{parent}:1" and children[1]["job_id"] == job_id
    assert children[2]["result"]["summary"] == {"index": 2}
    lines = [x["message"] for x in db.logs.find({"batch_job_id": f"{parent}:1", "kind": "log"})]
    assert lines == ["child 1 line"]
    # The job's runs are the parent's only.
    assert [r["_id"] for r in db.runs.find({"job_id": job_id, "parent": {"$exists": False}})] == [
        parent
    ]


def test_get_shows_counts_failed_indices_and_a_childs_run_logs_and_result(
    api, db, aws, lambda_context
):
    import uuid

    from overlord_recorder.handler import lambda_handler as recorder
    from tests.integration.test_recorder import put_logs, put_result
    from tests.support.events import array_events

    _, _, body = api.post("/jobs", {"task": "echo", "items": echo_items(3, uuid.uuid4().hex)})
    job_id, parent = body["job_id"], body["batch_job_id"]
    status, _, before = api.get(f"/jobs/{job_id}")
    assert status == 200 and before["array"] == {
        "size": 3,
        "counts": {"SUBMITTED": 3},
        "failed_indices": [],
    }
    streams = [f"overlord-echo/default/{uuid.uuid4().hex}" for _ in range(3)]
    for index, stream in enumerate(streams):
        put_logs(aws, stream, [f"child {index} line"])
        put_result(aws, job_id, f"{parent}:{index}", {"index": index})
    for event in array_events(job_id, parent, streams, failing=frozenset({2})):
        recorder(event, lambda_context)

    status, _, job = api.get(f"/jobs/{job_id}")
    assert status == 200 and job["status"] == "FAILED"
    assert job["array"] == {
        "size": 3,
        "counts": {"FAILED": 1, "SUCCEEDED": 2},
        "failed_indices": [2],
    }
    assert job["latest_run"]["array"]["status_summary"]["FAILED"] == 1
    status, _, child = api.get(f"/jobs/{job_id}", query="index=2")
    assert status == 200
    assert child["child"]["batch_job_id"] == f"{parent}:2"
    assert child["child"]["status"] == "FAILED" and child["child"]["index"] == 2
    assert child["child"]["result"]["summary"] == {"index": 2}

    status, _, logs = api.get(f"/jobs/{job_id}/logs", query="index=2")
    assert status == 200
    assert [x["message"] for x in logs["lines"] if x["kind"] == "log"] == ["child 2 line"]
    assert {x["batch_job_id"] for x in logs["lines"]} == {f"{parent}:2"}
    assert all(x["run"] == 1 for x in logs["lines"])
    _, _, runs = api.get(f"/jobs/{job_id}/runs")
    assert [r["batch_job_id"] for r in runs["runs"]] == [parent]


@pytest.mark.parametrize(
    ("path", "query", "start"),
    [
        ("", "index=3", "index: 3 is outside job"),
        ("/logs", "index=3", "index: 3 is outside job"),
        ("", "index=-1", "index:"),
        ("/logs", "index=x", "index:"),
        ("", "index=10000", "index:"),
    ],
)
def test_a_misused_index_is_400_naming_it(api, db, path, query, start):
    _, _, body = api.post("/jobs", {"task": "echo", "items": echo_items(3)})
    status, _, problem = api.get(f"/jobs/{body['job_id']}{path}", query=query)
    assert status == 400 and problem["detail"].startswith(start), problem


@pytest.mark.parametrize("path", ["", "/logs"])
def test_an_index_on_a_single_job_is_400(api, db, path):
    _, _, body = api.post("/jobs", {"task": "echo", "parameters": {"message": "one"}})
    status, _, problem = api.get(f"/jobs/{body['job_id']}{path}", query="index=0")
    assert status == 400 and problem["detail"].startswith("index: job"), problem
    assert "not an array job" in problem["detail"]


def test_a_rerun_of_only_the_failed_items_through_the_api(api, db, aws, lambda_context):
    import uuid

    from overlord_recorder.handler import lambda_handler as recorder
    from tests.support.events import array_events

    _, _, body = api.post("/jobs", {"task": "echo", "items": echo_items(4, uuid.uuid4().hex)})
    job_id, parent = body["job_id"], body["batch_job_id"]
    streams = [f"overlord-echo/default/{uuid.uuid4().hex}" for _ in range(4)]
    for event in array_events(job_id, parent, streams, failing=frozenset({1, 2})):
        recorder(event, lambda_context)

    status, _, problem = api.post(f"/jobs/{job_id}/runs", {"only": "everything"})
    assert status == 400 and problem["detail"].startswith("only:"), problem
    status, _, rerun = api.post(f"/jobs/{job_id}/runs", {"only": "failed"})
    assert status == 202, rerun
    assert rerun["run"] == 2
    [described] = aws.batch.describe_jobs(jobs=[rerun["batch_job_id"]])["jobs"]
    assert described["arrayProperties"]["size"] == 2
    env = {e["name"]: e["value"] for e in described["container"]["environment"]}
    assert json.loads(env["OVERLORD_ITEM_INDICES"]) == [1, 2]
    run = db.runs.find_one({"_id": rerun["batch_job_id"]})
    assert run["array"] == {"size": 2, "indices": [1, 2]}
    assert "selection" not in db.jobs.find_one({"_id": job_id})

    for event in array_events(job_id, rerun["batch_job_id"], streams[:2]):
        recorder(event, lambda_context)
    status, _, job = api.get(f"/jobs/{job_id}", query="index=2")
    assert job["status"] == "SUCCEEDED"
    assert job["array"] == {"size": 4, "counts": {"SUCCEEDED": 4}, "failed_indices": []}
    assert job["child"]["batch_job_id"] == f"{rerun['batch_job_id']}:1"
    status, _, problem = api.post(f"/jobs/{job_id}/runs", {"only": "failed"})
    assert status == 409 and problem["detail"].startswith("only: no item"), problem


def test_the_job_ends_only_once_every_childs_ending_is_recorded(api, db, aws, lambda_context):
    """The parent's ending delivered first (EventBridge does not order events): the job
    stays in flight until the last child's ending is recorded, then ends with the counts
    complete."""
    import uuid

    from overlord_recorder.handler import lambda_handler as recorder
    from tests.support.events import array_events

    _, _, body = api.post("/jobs", {"task": "echo", "items": echo_items(3, uuid.uuid4().hex)})
    job_id, parent = body["job_id"], body["batch_job_id"]
    streams = [f"overlord-echo/default/{uuid.uuid4().hex}" for _ in range(3)]
    events = array_events(job_id, parent, streams, failing=frozenset({0}))
    parents = [e for e in events if e["detail"]["jobId"] == parent]
    children = [e for e in events if e["detail"]["jobId"] != parent]
    for event in parents + children[:-1]:
        recorder(event, lambda_context)
    assert db.runs.find_one({"_id": parent})["status"] == "FAILED"
    _, _, job = api.get(f"/jobs/{job_id}")
    assert job["status"] == "PENDING", job
    recorder(children[-1], lambda_context)
    _, _, job = api.get(f"/jobs/{job_id}")
    assert job["status"] == "FAILED"
    assert job["array"] == {
        "size": 3,
        "counts": {"FAILED": 1, "SUCCEEDED": 2},
        "failed_indices": [0],
    }
    assert db.runs.find_one({"_id": parent})["array"]["ended"] == 3
