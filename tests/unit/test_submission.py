from datetime import UTC, datetime

from overlord import records
from overlord.request import validate_job_request
from overlord.submission import exit_rules, submit_job_request


def job(**fields):
    request = validate_job_request({"task": "echo", "parameters": {"a.b": 1}, **fields})
    return records.new_job(request, datetime(2026, 1, 1, tzinfo=UTC))


def test_submit_request_carries_identity_parameters_and_rules():
    doc = job(attempts=3, timeout_seconds=120, tags={"team": "x"})
    req = submit_job_request(
        doc,
        job_queue="q",
        job_definition="overlord-worker",
        parameters_env={"OVERLORD_PARAMETERS": '{"a.b":1}'},
    )
    env = {e["name"]: e["value"] for e in req["containerOverrides"]["environment"]}
    assert req["jobName"] == doc["_id"]
    assert env == {
        "OVERLORD_JOB_ID": doc["_id"],
        "OVERLORD_TASK": "echo",
        "OVERLORD_PARAMETERS": '{"a.b":1}',
    }
    assert req["retryStrategy"] == {"attempts": 3, "evaluateOnExit": exit_rules("overlord-worker")}
    assert {"onExitCode": "2", "action": "EXIT"} in req["retryStrategy"]["evaluateOnExit"]
    assert req["timeout"] == {"attemptDurationSeconds": 120}
    assert req["tags"] == {"team": "x"}


def test_no_timeout_or_tags_when_not_asked():
    req = submit_job_request(
        job(),
        job_queue="q",
        job_definition="arn:aws:batch:r:1:job-definition/overlord-worker:3",
        parameters_env={},
    )
    assert "timeout" not in req and "tags" not in req
    assert req["retryStrategy"]["evaluateOnExit"] == exit_rules("overlord-worker")


def test_stored_parameters_are_escaped():
    assert job()["parameters"] == {"a%2Eb": 1}
