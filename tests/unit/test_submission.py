from datetime import UTC, datetime

from overlord.domain import schema
from overlord.domain.arrays import RunShape
from overlord.domain.request import validate_job_request
from overlord.domain.submission import CONTAINER_OVERRIDES_CAP, submit_request, worker_environment
from overlord_contracts.catalogue import catalogue, evaluate_on_exit, job_definition
from overlord_contracts.worker_env import job_environment

ECHO = catalogue()["echo"]


def job(**fields):
    request = validate_job_request({"task": "echo", "parameters": {"a.b": 1}, **fields})
    return schema.new_job(request, datetime(2026, 1, 1, tzinfo=UTC))


def test_submit_request_carries_identity_parameters_and_rules():
    doc = job(attempts=3, timeout_seconds=120, tags={"team": "x"})
    req = submit_request(
        doc,
        ECHO,
        job_queue="q",
        job_definition="overlord-dev-overlord-echo",
        environment=job_environment(doc["_id"], "echo", parameters='{"a.b":1}'),
    ).as_api()
    env = {e["name"]: e["value"] for e in req["containerOverrides"]["environment"]}
    assert req["jobName"] == doc["_id"]
    assert req["jobDefinition"] == "overlord-dev-overlord-echo"
    assert env == {
        "OVERLORD_JOB_ID": doc["_id"],
        "OVERLORD_TASK": "echo",
        "OVERLORD_PARAMETERS": '{"a.b":1}',
    }
    assert req["retryStrategy"] == {"attempts": 3, "evaluateOnExit": evaluate_on_exit(ECHO)}
    assert {"onExitCode": "2", "action": "EXIT"} in req["retryStrategy"]["evaluateOnExit"]
    assert req["timeout"] == {"attemptDurationSeconds": 120}
    assert req["tags"] == {"team": "x"}


def test_no_timeout_or_tags_when_not_asked():
    req = submit_request(
        job(), ECHO, job_queue="q", job_definition="overlord-echo", environment={}
    ).as_api()
    assert "timeout" not in req and "tags" not in req
    assert req["jobDefinition"] == "overlord-echo"
    assert req["retryStrategy"]["evaluateOnExit"] == evaluate_on_exit(ECHO)


def test_exit_rules_are_the_generated_definitions():
    generated = job_definition(ECHO, worker_image="")["retryStrategy"]["evaluateOnExit"]
    assert evaluate_on_exit(ECHO) == generated == [{"onExitCode": "2", "action": "EXIT"}]


def test_overrides_size_counts_the_json_ecs_counts():
    doc = job()
    request = submit_request(
        doc,
        ECHO,
        job_queue="q",
        job_definition="overlord-echo",
        environment={"A": "x" * CONTAINER_OVERRIDES_CAP},
    )
    assert request.overrides_size() > CONTAINER_OVERRIDES_CAP
    assert request.overrides_size() == len('{"environment":[{"name":"A","value":""}]}') + 8192


def test_stored_parameters_are_escaped():
    assert job()["parameters"] == {"a%2Eb": 1}


def test_worker_environment_by_the_run_shape():
    doc = job()
    plain = worker_environment(doc, None, uri="s3://b/params/x.json")
    assert plain == {
        "OVERLORD_JOB_ID": doc["_id"],
        "OVERLORD_TASK": "echo",
        "OVERLORD_PARAMETERS_URI": "s3://b/params/x.json",
    }
    rerun = worker_environment(
        doc, RunShape(10, (1, 4)), uri="s3://b/i", offsets_uri="s3://b/o", indices="[1,4]"
    )
    assert {k: v for k, v in rerun.items() if k.startswith("OVERLORD_ITEM")} == {
        "OVERLORD_ITEMS_URI": "s3://b/i",
        "OVERLORD_ITEMS_OFFSETS_URI": "s3://b/o",
        "OVERLORD_ITEM_INDICES": "[1,4]",
    }
    one_item = worker_environment(doc, RunShape(10, (7,)), text="[]")
    assert one_item["OVERLORD_ITEMS"] == "[]" and one_item["OVERLORD_ITEM_INDEX"] == "7"
