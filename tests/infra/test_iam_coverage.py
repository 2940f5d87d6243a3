"""Every AWS call the product makes is granted by its Terraform role (DESIGN §6).

The session records each call product code makes (tests/conftest.py installs
tests/support/awscalls.py, in this process and in subprocesses such as the worker);
this module is collected last, so it sees the whole run's calls. It also drives a
representative set itself through the real handlers and the worker against moto, so
run alone it still checks every kind of call rather than skipping.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import iamcheck
import pytest

from overlord.adapters import mongo_client
from overlord.adapters.s3 import ObjectStore
from overlord.runtime import wiring
from overlord_contracts.bucket_layout import item_offsets_key, parameters_key
from overlord_contracts.worker_env import WorkerEnvironment
from overlord_recorder.handler import lambda_handler as recorder
from overlord_recorder.handler import reconcile_handler
from overlord_submitter.handler import lambda_handler as submitter
from overlord_worker.service import run_task
from tests.conftest import JOB_QUEUE, RESULTS_BUCKET, environment
from tests.support import awscalls
from tests.support.api import Api
from tests.support.events import attempt, state_event

LOG_GROUP = "/aws/batch/job"

# What the driven scenario must produce: (component, service, operation).
EXPECTED = {
    ("submitter", "batch", "SubmitJob"),
    ("submitter", "batch", "ListJobs"),
    ("submitter", "s3", "PutObject"),
    ("submitter", "secretsmanager", "GetSecretValue"),
    ("submitter", "logs", "GetLogEvents"),
    ("recorder", "s3", "HeadObject"),
    ("recorder", "s3", "GetObject"),
    ("recorder", "logs", "GetLogEvents"),
    ("reconcile", "batch", "DescribeJobs"),
    ("reconcile", "batch", "ListJobs"),
    ("reconcile", "s3", "HeadObject"),
    ("worker", "s3", "GetObject"),
    ("worker", "s3", "PutObject"),
}


def recording() -> Path:
    return Path(os.environ[awscalls.ENV_VAR])


def _reset() -> None:
    wiring.reset()


def _drive(aws: Any, db: Any, mongodb_uri: str, lambda_context: Any) -> None:
    """One of each call the components make, through their real entry points."""
    api = Api(submitter)
    # SubmitJob, and PutObject of parameters too large for the container's environment.
    _, _, small = api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
    with environment(CONTAINER_OVERRIDES_BUDGET="10"):
        _reset()
        assert api.post("/jobs", {"task": "echo", "parameters": {"message": "x" * 50}})[0] == 202
    _reset()

    # A SubmitJob whose answer was lost: the retry adopts the job by name (ListJobs).
    lost = {"task": "echo", "parameters": {"message": uuid.uuid4().hex}}
    with environment(AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9"):
        _reset()
        assert api.post("/jobs", lost)[0] == 503
    _reset()
    job_id = db.jobs.find_one({"status": "SUBMIT_FAILED"})["_id"]
    aws.batch.submit_job(jobName=job_id, jobQueue=JOB_QUEUE, jobDefinition="overlord-echo")
    assert api.post("/jobs", lost)[0] == 202

    # The MongoDB URI from Secrets Manager.
    secret = aws.secretsmanager.create_secret(
        Name=f"overlord-iam-{uuid.uuid4().hex[:8]}", SecretString=mongodb_uri
    )["ARN"]
    saved = os.environ.pop("MONGODB_URI")
    try:
        with environment(MONGODB_SECRET_ARN=secret):
            _reset()
            assert api.get("/health")[0] == 200
    finally:
        os.environ["MONGODB_URI"] = saved
        _reset()

    # The worker: parameters from S3, result to S3.
    run_id = small["batch_job_id"]
    objects = ObjectStore(RESULTS_BUCKET)
    params_uri = objects.put_text(f"params/{small['job_id']}.json", json.dumps({"message": "hi"}))
    env = WorkerEnvironment(
        job_id=small["job_id"],
        task="echo",
        parameters=None,
        parameters_uri=params_uri,
        results_bucket=RESULTS_BUCKET,
        batch_job_id=run_id,
        attempt=1,
    )
    assert run_task(env, objects) == 0

    # An array's items through S3, the list and its offsets; a child reads its own item
    # with ranged GetObjects of both.
    with environment(CONTAINER_OVERRIDES_BUDGET="10"):
        _reset()
        items = [{"message": uuid.uuid4().hex}, {"message": "b"}]
        _, _, array = api.post("/jobs", {"task": "echo", "items": items})
    _reset()
    child = WorkerEnvironment.from_env(
        {
            "OVERLORD_JOB_ID": array["job_id"],
            "OVERLORD_TASK": "echo",
            "OVERLORD_ITEMS_URI": objects.uri(parameters_key(array["job_id"])),
            "OVERLORD_ITEMS_OFFSETS_URI": objects.uri(item_offsets_key(array["job_id"])),
            "AWS_BATCH_JOB_ID": f"{array['batch_job_id']}:1",
            "AWS_BATCH_JOB_ARRAY_INDEX": "1",
            "RESULTS_BUCKET": RESULTS_BUCKET,
        }
    )
    assert run_task(child, objects) == 0

    # The recorder: a result that exists (HeadObject, GetObject) with its log stream,
    # and a run that ended without one (HeadObject answered 404).
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    aws.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    done = [attempt(stream, 0)]
    succeeded = state_event(small["job_id"], run_id, "SUCCEEDED", attempts=done, log_stream=stream)
    # as its event source mapping invokes it: an SQS batch
    answer = recorder(
        {"Records": [{"messageId": "m-1", "body": json.dumps(succeeded), "attributes": {}}]},
        lambda_context,
    )
    assert answer == {"batchItemFailures": []}
    _, _, other = api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
    recorder(state_event(other["job_id"], other["batch_job_id"], "FAILED"), lambda_context)

    # The submitter: a RUNNING run's lines, read live from its stream (GET /jobs/{id}/logs).
    _, _, running = api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
    live = f"overlord-worker/default/{uuid.uuid4().hex}"
    aws.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=live)
    recorder(
        state_event(running["job_id"], running["batch_job_id"], "RUNNING", log_stream=live),
        lambda_context,
    )
    assert api.get(f"/jobs/{running['job_id']}/logs")[0] == 200

    # Reconcile: DescribeJobs for stale runs, ListJobs for a claim never recorded.
    api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
    claim = {"task": "echo", "parameters": {"message": uuid.uuid4().hex}}
    with environment(AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9"):
        _reset()
        api.post("/jobs", claim)
    db.jobs.update_many({"status": "SUBMIT_FAILED"}, {"$set": {"status": "SUBMITTING"}})
    with environment(RECONCILE_AFTER_SECONDS="0"):
        _reset()
        reconcile_handler({}, lambda_context)
    _reset()


@pytest.fixture
def driven_calls(app_env, aws, db, mongodb_uri, lambda_context) -> list[dict[str, Any]]:
    """The calls recorded while `_drive` ran."""
    path = recording()
    start = path.stat().st_size if path.exists() else 0
    mongo_client._secret_uri.cache_clear()
    _drive(aws, db, mongodb_uri, lambda_context)
    with path.open(encoding="utf-8") as f:
        f.seek(start)
        return [json.loads(line) for line in f if line.strip()]


def _kinds(calls: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(c["component"], c["service"], c["operation"]) for c in calls}


def test_the_driven_calls_are_recorded_and_granted(driven_calls):
    missing = EXPECTED - _kinds(driven_calls)
    assert not missing, missing
    assert any(c["operation"] == "HeadObject" and c["status"] == 404 for c in driven_calls), (
        "no HeadObject of a missing result was driven"
    )
    worker_reads = {
        c["params"]["Key"]
        for c in driven_calls
        if (c["component"], c["operation"]) == ("worker", "GetObject")
    }
    assert any(k.endswith(".offsets") for k in worker_reads), worker_reads
    assert iamcheck.problems(driven_calls) == []


def test_every_call_recorded_in_this_session_is_granted():
    calls = awscalls.read(recording())
    attributed = [c for c in calls if c.get("component")]
    assert attributed, "nothing recorded"
    assert iamcheck.problems(calls) == []


# --------------------------------------------------------------------------- the check itself


def _call(component: str, service: str, operation: str, **params: Any) -> dict[str, Any]:
    return {
        "component": component,
        "service": service,
        "operation": operation,
        "region": "us-east-1",
        "params": params,
        "settings": {
            "RESULTS_BUCKET": "results-bucket",
            "JOB_QUEUE": "the-queue",
            "JOB_DEFINITION_PREFIX": "overlord-dev-",
            "MONGODB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:m-AbCdEf",
        },
        "status": params.pop("status", 200),
    }


EVENTS_QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{iamcheck.EVENTS_QUEUE}"
OTHER_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/someone-elses"

GRANTED = [
    _call(
        "submitter",
        "batch",
        "SubmitJob",
        jobQueue="the-queue",
        jobDefinition="overlord-dev-overlord-echo",
    ),
    _call(
        "submitter",
        "batch",
        "SubmitJob",
        jobQueue="the-queue",
        jobDefinition="overlord-dev-overlord-echo:3",
        tags={"team": "a", iamcheck.DEPLOYMENT_TAG: iamcheck.DEFAULT_DEPLOYMENT},
    ),
    _call("submitter", "batch", "ListJobs", jobQueue="the-queue"),
    _call("submitter", "batch", "CancelJob", jobId="0f6c1a5e-0000-4000-8000-000000000001"),
    _call("submitter", "batch", "TerminateJob", jobId="0f6c1a5e-0000-4000-8000-000000000001"),
    _call("submitter", "s3", "PutObject", Bucket="results-bucket", Key="params/job-1.json"),
    _call(
        "recorder", "s3", "HeadObject", Bucket="results-bucket", Key="results/j/b.json", status=404
    ),
    _call(
        "recorder",
        "logs",
        "GetLogEvents",
        logGroupName="/aws/batch/job",
        logStreamName="a/default/b",
    ),
    _call(
        "submitter",
        "logs",
        "GetLogEvents",
        logGroupName="/aws/batch/job",
        logStreamName="a/default/b",
    ),
    _call("reconcile", "batch", "DescribeJobs", jobs=["b"]),
    _call("worker", "s3", "GetObject", Bucket="results-bucket", Key="inputs/data.bin"),
    _call("worker", "s3", "PutObject", Bucket="results-bucket", Key="results/j/b.json"),
    _call(
        "recorder",
        "secretsmanager",
        "GetSecretValue",
        SecretId="arn:aws:secretsmanager:us-east-1:123456789012:secret:m-AbCdEf",
    ),
    _call("recorder", "sqs", "DeleteMessageBatch", QueueUrl=EVENTS_QUEUE_URL),
]

UNGRANTED = [
    # a component calling what another component's role holds
    (
        _call(
            "recorder",
            "batch",
            "SubmitJob",
            jobQueue="the-queue",
            jobDefinition="overlord-dev-overlord-echo",
        ),
        "batch:SubmitJob",
    ),
    # another queue, another job definition
    (
        _call(
            "submitter",
            "batch",
            "SubmitJob",
            jobQueue="other-queue",
            jobDefinition="overlord-dev-overlord-echo",
        ),
        "job-queue/other-queue",
    ),
    (
        _call(
            "submitter", "batch", "SubmitJob", jobQueue="the-queue", jobDefinition="someone-elses"
        ),
        "job-definition/someone-elses",
    ),
    # outside the prefixes, or another bucket
    (
        _call("worker", "s3", "PutObject", Bucket="results-bucket", Key="params/job-1.json"),
        "s3:PutObject",
    ),
    (_call("worker", "s3", "GetObject", Bucket="results-bucket", Key="missing"), "s3:GetObject"),
    (_call("recorder", "s3", "GetObject", Bucket="elsewhere", Key="results/j/b.json"), "elsewhere"),
    # the hidden requirement: a 404 needs s3:ListBucket (the worker does not hold it)
    (
        _call("worker", "s3", "HeadObject", Bucket="results-bucket", Key="inputs/x", status=404),
        "s3:ListBucket",
    ),
    # another log group, another secret
    (
        _call("recorder", "logs", "GetLogEvents", logGroupName="/aws/lambda/x", logStreamName="s"),
        "logs:GetLogEvents",
    ),
    (
        _call("submitter", "logs", "GetLogEvents", logGroupName="/aws/lambda/x", logStreamName="s"),
        "logs:GetLogEvents",
    ),
    (
        _call(
            "submitter",
            "secretsmanager",
            "GetSecretValue",
            SecretId="arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf",
        ),
        "secret:other",
    ),
    # tags on submit without this deployment's tag, or with another deployment's value
    (
        _call(
            "submitter",
            "batch",
            "SubmitJob",
            jobQueue="the-queue",
            jobDefinition="overlord-dev-overlord-echo",
            tags={"team": "a"},
        ),
        "batch:TagResource",
    ),
    (
        _call(
            "submitter",
            "batch",
            "SubmitJob",
            jobQueue="the-queue",
            jobDefinition="overlord-dev-overlord-echo",
            tags={iamcheck.DEPLOYMENT_TAG: "overlord-prod"},
        ),
        "batch:TagResource",
    ),
    # only the submitter cancels
    (_call("recorder", "batch", "TerminateJob", jobId="j-1"), "batch:TerminateJob"),
    # the events queue is the recorder's only, and no other queue is
    (_call("recorder", "sqs", "ReceiveMessage", QueueUrl=OTHER_QUEUE_URL), "someone-elses"),
    (
        _call("submitter", "sqs", "ReceiveMessage", QueueUrl=EVENTS_QUEUE_URL),
        "sqs:ReceiveMessage",
    ),
    # a call nobody mapped yet
    (_call("recorder", "sqs", "SendMessage", QueueUrl="q"), "no IAM mapping for sqs:SendMessage"),
]


@pytest.mark.parametrize("call", GRANTED, ids=lambda c: f"{c['component']}-{c['operation']}")
def test_granted_calls_pass(call):
    assert iamcheck.problems([call]) == []


@pytest.mark.parametrize(
    ("call", "expected"), UNGRANTED, ids=lambda v: v if isinstance(v, str) else v["operation"]
)
def test_an_ungranted_call_fails(call, expected):
    found = iamcheck.problems([call])
    assert found and all(expected in f for f in found), found


def test_a_statement_removed_from_terraform_fails(tmp_path):
    """The defects of issue 8, reproduced against the policies as they were."""
    modules = tmp_path / "terraform" / "modules"
    for module in ("functions", "batch"):
        (modules / module).mkdir(parents=True)
        for tf_file in (iamcheck.tf.TERRAFORM / "modules" / module).glob("*.tf"):
            (modules / module / tf_file.name).write_text(tf_file.read_text())
    main = modules / "functions" / "main.tf"
    text = main.read_text()
    text = text.replace('["batch:DescribeJobs", "batch:ListJobs"]', '["batch:DescribeJobs"]')
    text = text.replace('actions   = ["s3:ListBucket"]', 'actions   = ["s3:GetObject"]')
    main.write_text(text)
    old = iamcheck.Policies(tmp_path / "terraform")
    calls = [
        _call("submitter", "batch", "ListJobs", jobQueue="the-queue"),
        _call("reconcile", "batch", "ListJobs", jobQueue="the-queue"),
        _call(
            "recorder",
            "s3",
            "HeadObject",
            Bucket="results-bucket",
            Key="results/j/b.json",
            status=404,
        ),
    ]
    assert iamcheck.problems(calls, old) == [
        "submitter: batch:ListJobs needs batch:ListJobs on *",
        "reconcile: batch:ListJobs needs batch:ListJobs on *",
        "recorder: s3:HeadObject needs s3:ListBucket on arn:aws:s3:::results-bucket"
        " (404 for a missing key)",
    ]
    assert iamcheck.problems(calls) == []


def test_what_lambda_does_for_the_event_source_mapping_is_granted():
    """The SQS calls Lambda's pollers make with the recorder's role: no product code
    makes them, so they come from the mapping in terraform/ (iamcheck.mapping_calls)."""
    calls = iamcheck.mapping_calls()
    assert {(c["component"], c["operation"]) for c in calls} == {
        ("recorder", op) for op in iamcheck.SQS_MAPPING_OPERATIONS
    }
    assert iamcheck.problems(calls) == []


def test_the_mapping_without_its_queue_statement_fails(tmp_path):
    modules = tmp_path / "terraform" / "modules"
    for module in ("functions", "batch"):
        (modules / module).mkdir(parents=True)
        for tf_file in (iamcheck.tf.TERRAFORM / "modules" / module).glob("*.tf"):
            (modules / module / tf_file.name).write_text(tf_file.read_text())
    main = modules / "functions" / "main.tf"
    text = main.read_text()
    granted = '["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]'
    assert granted in text
    main.write_text(text.replace(granted, '["sqs:ReceiveMessage"]'))
    old = iamcheck.Policies(tmp_path / "terraform")
    found = iamcheck.problems(iamcheck.mapping_calls(old), old)
    assert found == [
        f"recorder: sqs:{op} needs sqs:{op} on "
        f"arn:aws:sqs:us-east-1:123456789012:{iamcheck.EVENTS_QUEUE}"
        for op in ("DeleteMessage", "GetQueueAttributes")
    ]


def test_unresolvable_terraform_is_reported_not_ignored():
    scope = iamcheck.Scope({}, {})
    with pytest.raises(iamcheck.Unresolved, match=r"var\.nowhere"):
        scope.values("${var.nowhere}/x")


def _submitter_resources(task_count: int) -> int:
    """How many resource ARNs the submitter's statements hold with this many tasks."""
    policies = iamcheck.Policies()
    keys = [f"overlord-task{i}" for i in range(task_count)]
    scope = policies.scope("submitter", _call("submitter", "batch", "X"), keys)
    return sum(
        len(scope.values(statement.get("resources", [])))
        for where, statement in policies.statements("submitter")
        if where.startswith("functions/submitter")
    )


def test_the_submitter_policy_does_not_grow_with_the_catalogue():
    """IAM caps a role's inline policies at 10,240 characters in all: two job-definition
    ARNs per task outgrew it at about 46 tasks (issue 18, item 7)."""
    assert _submitter_resources(200) == _submitter_resources(1)


def test_a_job_definition_of_an_environment_whose_name_extends_ours_is_not_granted():
    call = _call(
        "submitter",
        "batch",
        "SubmitJob",
        jobQueue="the-queue",
        jobDefinition="overlord-dev-2-overlord-echo",
    )
    found = iamcheck.problems([call])
    assert found and "job-definition/overlord-dev-2-overlord-echo" in found[0], found


def test_job_actions_are_conditioned_on_this_deployments_tag():
    """CancelJob/TerminateJob on job/* reach every Batch job in the account, and
    TagResource would tag any: each needs this deployment's tag (issue 18, item 8)."""
    from overlord.adapters.config import Settings
    from overlord.services.submit import DEPLOYMENT_TAG

    assert (
        DEPLOYMENT_TAG,
        Settings().deployment,
    ) == (iamcheck.DEPLOYMENT_TAG, iamcheck.DEFAULT_DEPLOYMENT)
    conditions = {}
    for _, statement in iamcheck.Policies().statements("submitter"):
        for action in iamcheck.tf.literals(statement.get("actions", [])):
            conditions[action] = [
                (c["test"], c["variable"], c["values"]) for c in statement.get("condition", [])
            ]
    tag = f"aws:ResourceTag/{DEPLOYMENT_TAG}"
    assert conditions["batch:CancelJob"] == [("StringEquals", tag, ["${var.name}"])]
    assert conditions["batch:TerminateJob"] == [("StringEquals", tag, ["${var.name}"])]
    request_tag = f"aws:RequestTag/{DEPLOYMENT_TAG}"
    assert conditions["batch:TagResource"] == [("StringEquals", request_tag, ["${var.name}"])]
