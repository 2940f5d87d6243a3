"""The catalogue through HTTP: POST /jobs validates before anything is written; GET /tasks."""

from __future__ import annotations

import pytest

from overlord.runtime import wiring
from overlord_submitter.handler import lambda_handler
from tests.conftest import JOB_QUEUE, environment
from tests.support.api import Api


@pytest.fixture
def api(app_env):
    return Api(lambda_handler)


def batch_job_count(aws) -> int:
    return sum(
        len(aws.batch.list_jobs(jobQueue=JOB_QUEUE, jobStatus=s)["jobSummaryList"])
        for s in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
    )


def nothing_written(db) -> bool:
    return all(db[name].count_documents({}) == 0 for name in ("jobs", "runs", "logs"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"task": "nope", "parameters": {}}, "task: unknown task 'nope'; known tasks: anything, "),
        ({"task": "nope"}, "task: unknown task 'nope'"),
        ({"task": "sleep", "parameters": {"seconds": "x"}}, "parameters.seconds: 'x' is not of"),
        ({"task": "sleep", "parameters": {"seconds": True}}, "parameters.seconds: True is not of"),
        ({"task": "sleep", "parameters": {}}, "parameters.seconds: is required"),
        ({"task": "sleep"}, "parameters.seconds: is required"),
        ({"task": "sleep", "parameters": {"seconds": -1}}, "parameters.seconds: -1 is less than"),
        (
            {"task": "sleep", "parameters": {"seconds": 86401}},
            "parameters.seconds: 86401 is greater than the maximum of 86400",
        ),
        (
            {"task": "echo", "parameters": {"message": "hi", "level": "loud"}},
            "parameters.level: 'loud' is not one of ['info', 'warning', 'error']",
        ),
        (
            {"task": "echo", "parameters": {"message": "hi", "colour": "red"}},
            "parameters.colour: is not a parameter of this task",
        ),
        ({"task": "echo", "parameters": {"message": 7}}, "parameters.message: 7 is not of type"),
        (
            {"task": "fail", "parameters": {"exit_code": 2.5}},
            "parameters.exit_code: 2.5 is not of type 'integer'",
        ),
        ({"task": "fail", "parameters": {"exit_code": 0}}, "parameters.exit_code: 0 is less"),
        (
            {"task": "checksum", "parameters": {"s3_uri": "https://x/y"}},
            "parameters.s3_uri: 'https://x/y' does not match",
        ),
        (
            {"task": "echo", "parameters": {"message": "hi"}, "attempts": 2},
            "attempts: 2 is more than task 'echo' allows (1)",
        ),
        (
            {"task": "echo", "parameters": {"message": "hi"}, "timeout_seconds": 3601},
            "timeout_seconds: 3601 is longer than task 'echo' allows (3600)",
        ),
    ],
)
def test_invalid_requests_are_400_and_write_nothing(api, db, aws, body, message):
    before = batch_job_count(aws)
    status, _, payload = api.post("/jobs", body)
    assert status == 400, payload
    assert payload["detail"].startswith(message), payload["detail"]
    assert nothing_written(db)
    assert batch_job_count(aws) == before


def test_unknown_task_lists_every_known_one(api):
    _, _, payload = api.post("/jobs", {"task": "nope"})
    known = payload["detail"].split("known tasks: ")[1].split(", ")
    assert known == ["anything", "checksum", "echo", "fail", "sleep", "wordcount"]


def test_tighter_attempts_and_timeout_are_used_and_absent_ones_are_the_tasks(api, db, aws):
    status, _, body = api.post(
        "/jobs", {"task": "fail", "parameters": {}, "attempts": 2, "timeout_seconds": 120}
    )
    assert status == 202, body
    job = db.jobs.find_one({"_id": body["job_id"]})
    assert (job["attempts"], job["timeout_seconds"]) == (2, 120)
    [described] = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"]
    assert described["jobDefinition"].rsplit("/", 1)[-1].startswith("overlord-fail:")

    status, _, body = api.post("/jobs", {"task": "fail", "parameters": {"message": "defaults"}})
    assert status == 202, body
    job = db.jobs.find_one({"_id": body["job_id"]})
    assert (job["attempts"], job["timeout_seconds"]) == (3, 3600)  # fail.json's own


def test_each_task_is_submitted_to_its_own_definition(api, aws):
    for task, parameters in (("echo", {"message": "m"}), ("sleep", {"seconds": 1})):
        status, _, body = api.post("/jobs", {"task": task, "parameters": parameters})
        assert status == 202, body
        [described] = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"]
        assert f"job-definition/overlord-{task}:" in described["jobDefinition"]


def test_image_tasks_are_refused_where_jobs_run_as_processes(app_env, db, aws):
    before = batch_job_count(aws)
    with environment(IMAGE_TASKS="false"):
        wiring.reset()
        status, _, payload = Api(lambda_handler).post(
            "/jobs", {"task": "wordcount", "parameters": {"s3_uri": "s3://b/k"}}
        )
    wiring.reset()
    assert status == 400
    assert payload["detail"].startswith("task: 'wordcount' runs the container image")
    assert "make up" in payload["detail"] and "Python entry point" in payload["detail"]
    assert nothing_written(db) and batch_job_count(aws) == before
    # Elsewhere (AWS, `make up`) the same request is accepted.
    status, _, payload = Api(lambda_handler).post(
        "/jobs", {"task": "wordcount", "parameters": {"s3_uri": "s3://b/k"}}
    )
    assert status == 202, payload


def test_image_tasks_without_a_deployed_image_are_refused(app_env, db, aws):
    """Issue 18, item 3: on AWS an image task runs only the image Terraform points its
    job definition at (TASK_IMAGES names those tasks); the catalogue's own name would be
    pulled from Docker Hub and the job fail after a 202."""
    before = batch_job_count(aws)
    request = {"task": "wordcount", "parameters": {"s3_uri": "s3://b/k"}}
    with environment(TASK_IMAGES="[]"):
        wiring.reset()
        status, _, payload = Api(lambda_handler).post("/jobs", request)
    wiring.reset()
    assert status == 400, payload
    assert payload["detail"].startswith("task: 'wordcount' runs its own container image")
    assert "task_images" in payload["detail"]
    assert nothing_written(db) and batch_job_count(aws) == before
    with environment(TASK_IMAGES='["wordcount"]'):
        wiring.reset()
        status, _, payload = Api(lambda_handler).post("/jobs", request)
    wiring.reset()
    assert status == 202, payload


def test_get_tasks_lists_the_catalogue_with_schemas(api):
    status, _, body = api.get("/tasks")
    assert status == 200
    tasks = {t["name"]: t for t in body["tasks"]}
    assert {"echo", "sleep", "fail", "checksum", "wordcount"} <= set(tasks)
    assert tasks["sleep"]["parameters"]["properties"]["seconds"]["type"] == "number"
    assert tasks["sleep"]["runs"] == {"python": "overlord_worker.tasks:sleep"}
    wordcount = {"image": "overlord-wordcount:dev", "command": ["/wordcount"]}
    assert tasks["wordcount"]["runs"] == wordcount

    status, _, sleep = api.get("/tasks/sleep")
    assert status == 200 and sleep == tasks["sleep"]
    assert {"vcpus", "memory", "timeout_seconds", "attempts", "no_retry_exit_codes"} <= set(sleep)

    status, _, missing = api.get("/tasks/nope")
    assert status == 404 and "known tasks: anything, checksum" in missing["detail"]
