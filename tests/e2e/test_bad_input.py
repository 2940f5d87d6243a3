"""Bad input over real HTTP: gateway → submitter on an `overlord dev` of this module's own.

Each case is one request that must get a 4xx whose message names the field at fault
and must write nothing: the collections are counted after every case, and after the
table the local Batch is asked (ListJobs, through boto3) which jobs it holds. The one
input accepted on purpose (`$`/`.` keys, stored escaped) is checked for a round trip.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from pymongo.database import Database

from overlord_local.apigateway.sigv4 import canonical_query, sign
from overlord_local.devstack.running import RunningDev, start_dev
from tests.conftest import ANY_PARAMETERS_TASK, catalogue_copy

pytestmark = pytest.mark.e2e

JSON = "application/json"
UNKNOWN_JOB = "job-" + "0" * 32
KIB = 1024


@dataclass
class Dev:
    running: RunningDev
    db: Database
    accepted: set[str]  # job IDs this module created on purpose

    @property
    def env(self) -> dict[str, str]:
        lines = (self.running.state_dir / "dev.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = JSON
    ) -> tuple[int, Any]:
        """Bytes as given: no client library re-encoding the body or fixing the headers."""
        host, port = self.running.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"content-type": content_type} if content_type else {}
        # Signed like any client (the gateway checks SigV4): the query in SigV4's
        # canonical encoding, so that what is sent is what is signed.
        route, _, query = path.partition("?")
        path = route + (f"?{canonical_query(query)}" if query else "")
        headers = sign(
            method,
            self.running.url + path,
            headers,
            body,
            self.running.credentials,
            "us-east-1",
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw else None

    def counts(self) -> dict[str, int]:
        return {name: self.db[name].count_documents({}) for name in ("jobs", "runs", "logs")}


@pytest.fixture(scope="module")
def dev(tmp_path_factory, mongodb_uri, mongo_client) -> Iterator[Dev]:
    db_name = f"badinput_{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp("dev-bad-input")
    # The catalogue plus a task that takes any parameters (the `$`/`.` keys test).
    tasks = catalogue_copy(root / "tasks", ANY_PARAMETERS_TASK)
    running = start_dev(
        root / "state",
        "--reconcile-every",
        "0",
        env={"MONGODB_URI": mongodb_uri, "DB_NAME": db_name, "OVERLORD_TASKS_DIR": str(tasks)},
    )
    try:
        yield Dev(running, mongo_client[db_name], set())
    finally:
        running.stop()
        mongo_client.drop_database(db_name)


def text_of(body: Any) -> str:
    """The human message of an error body, `{error, message}` or RFC 9457 `{…, detail}`."""
    assert isinstance(body, dict), body
    text = body.get("detail") or body.get("message")
    assert isinstance(text, str), body
    return text


def names_field(text: str, field: str) -> bool:
    return text.startswith(f"{field}:") or f"; {field}:" in text or f" {field}: " in text


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def echo(**fields: Any) -> bytes:
    return body({"task": "echo", "parameters": {"message": "x"}, **fields})


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def case(
    id: str,
    status: int,
    field: str,
    data: bytes | None = None,
    *,
    path: str = "/jobs",
    method: str = "POST",
    content_type: str | None = JSON,
) -> Any:
    return pytest.param(method, path, data, content_type, status, field, id=id)


TASK_PARAMS = b'{"task":"echo","parameters":'
CASES = [
    # --- the body as a whole
    case("malformed-json", 400, "body", b"{not json"),
    case("truncated-json", 400, "body", b'{"task": "echo"'),
    case("empty-body", 400, "body", b""),
    case("blank-body", 400, "body", b"  \n "),
    case("array-body", 400, "body", b"[1, 2]"),
    case("string-body", 400, "body", b'"echo"'),
    case("null-body", 400, "body", b"null"),
    case("over-256-kib", 413, "body", body({"task": "echo", "x": "y" * (300 * KIB)})),
    case("deep-raw-nesting", 400, "body", TASK_PARAMS + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    case("nan", 400, "body", TASK_PARAMS + b'{"x": NaN}}'),
    case("infinity", 400, "body", TASK_PARAMS + b'{"x": Infinity}}'),
    case("minus-infinity", 400, "body", TASK_PARAMS + b'{"x": -Infinity}}'),
    case("invalid-utf8", 400, "body", TASK_PARAMS + b'{"message": "\xff\xfe"}}'),
    case("utf16-body", 400, "body", echo().decode().encode("utf-16")),
    # --- content type
    case("text-plain", 415, "content-type", echo(), content_type="text/plain"),
    case("no-content-type", 415, "content-type", echo(), content_type=None),
    case("form", 415, "content-type", echo(), content_type="application/x-www-form-urlencoded"),
    case(
        "json-latin1", 415, "content-type", echo(), content_type="application/json; charset=latin1"
    ),
    case("json-patch", 415, "content-type", echo(), content_type="application/json-patch+json"),
    # --- parameters
    case("parameters-over-64-kib", 413, "parameters", echo(parameters={"x": "y" * (70 * KIB)})),
    case("nesting-200", 400, "parameters", echo(parameters=nested(200))),
    case("nesting-33", 400, "parameters", echo(parameters=nested(33))),
    case("number-beyond-double", 400, "parameters", TASK_PARAMS + b'{"x": 1e400}}'),
    case("integer-beyond-2-53", 400, "parameters", echo(parameters={"x": 2**60})),
    case("lone-surrogate-value", 400, "parameters", TASK_PARAMS + b'{"message": "\\ud800"}}'),
    case("lone-surrogate-key", 400, "parameters", TASK_PARAMS + b'{"\\udc00": 1}}'),
    case("parameters-list", 400, "parameters", echo(parameters=[1, 2])),
    case("parameters-string", 400, "parameters", echo(parameters="message=x")),
    # --- task
    case("task-missing", 400, "task", body({"parameters": {}})),
    case("task-number", 400, "task", body({"task": 7})),
    case("task-path", 400, "task", body({"task": "../../etc/passwd"})),
    case("task-slash", 400, "task", body({"task": "echo/x"})),
    case("task-65-chars", 400, "task", body({"task": "a" * 65})),
    case("task-nul", 400, "task", body({"task": "echo\u0000"})),
    case("task-surrogate", 400, "task", b'{"task": "echo\\ud800"}'),
    # --- key
    case("key-empty", 400, "key", echo(key="")),
    case("key-257-chars", 400, "key", echo(key="k" * 257)),
    case("key-number", 400, "key", echo(key=5)),
    case("key-nul", 400, "key", echo(key="a\u0000b")),
    case("key-surrogate", 400, "key", TASK_PARAMS + b'{}, "key": "\\ud800"}'),
    # --- tags
    case("51-tags", 400, "tags", echo(tags={f"t{i}": "v" for i in range(51)})),
    case("tag-key-129", 400, "tags", echo(tags={"k" * 129: "v"})),
    case("tag-value-257", 400, "tags", echo(tags={"team": "v" * 257})),
    case("tag-aws-prefix", 400, "tags", echo(tags={"aws:cost": "v"})),
    case("tag-value-number", 400, "tags.team", echo(tags={"team": 5})),
    case("tags-list", 400, "tags", echo(tags=["team"])),
    case("tag-key-nul", 400, "tags", echo(tags={"te\u0000am": "v"})),
    case("tag-value-surrogate", 400, "tags", TASK_PARAMS + b'{}, "tags": {"t": "\\udfff"}}'),
    # --- attempts and timeout
    case("attempts-0", 400, "attempts", echo(attempts=0)),
    case("attempts-11", 400, "attempts", echo(attempts=11)),
    case("attempts-string", 400, "attempts", echo(attempts="2")),
    case("attempts-float", 400, "attempts", echo(attempts=2.5)),
    case("attempts-bool", 400, "attempts", echo(attempts=True)),
    case("timeout-negative", 400, "timeout_seconds", echo(timeout_seconds=-1)),
    case("timeout-10-pow-20", 400, "timeout_seconds", echo(timeout_seconds=10**20)),
    case("timeout-over-14-days", 400, "timeout_seconds", echo(timeout_seconds=14 * 86400 + 1)),
    case("timeout-string", 400, "timeout_seconds", echo(timeout_seconds="60")),
    # --- unknown fields
    case("unknown-field", 400, "priority", echo(priority=1)),
    case("unknown-field-dollar", 400, "$where", echo(**{"$where": "1"})),
    # --- job IDs in paths
    case("job-nope", 404, "job_id", path="/jobs/nope", method="GET"),
    case("job-xyz", 404, "job_id", path="/jobs/job-XYZ", method="GET"),
    case("job-unknown", 404, "job_id", path=f"/jobs/{UNKNOWN_JOB}", method="GET"),
    case("job-traversal", 404, "job_id", path="/jobs/..%2F..%2Fetc%2Fpasswd", method="GET"),
    case("job-dotdot-runs", 404, "job_id", path="/jobs/%2e%2e/runs", method="GET"),
    case("rerun-nope", 404, "job_id", path="/jobs/nope/runs", method="POST"),
    case("logs-nope", 404, "job_id", path="/jobs/nope/logs", method="GET"),
    # --- query parameters
    case("limit-0", 400, "limit", path=f"/jobs/{UNKNOWN_JOB}/logs?limit=0", method="GET"),
    case("limit-x", 400, "limit", path=f"/jobs/{UNKNOWN_JOB}/logs?limit=x", method="GET"),
    case("limit-1001", 400, "limit", path=f"/jobs/{UNKNOWN_JOB}/logs?limit=1001", method="GET"),
    case("cursor-bogus", 400, "cursor", path=f"/jobs/{UNKNOWN_JOB}/logs?cursor=x%21", method="GET"),
    case("list-limit-0", 400, "limit", path="/jobs?limit=0", method="GET"),
    case("list-status", 400, "status", path="/jobs?status=DONE", method="GET"),
    case("list-cursor", 400, "cursor", path="/jobs?cursor=bm90", method="GET"),
    case("list-tag", 400, "tag", path="/jobs?tag=nocolon", method="GET"),
    case("cancel-nope", 404, "job_id", path="/jobs/nope/cancel", method="POST"),
    case(
        "cancel-reason-number",
        400,
        "reason",
        b'{"reason": 5}',
        path=f"/jobs/{UNKNOWN_JOB}/cancel",
    ),
    case("run-abc", 400, "run", path=f"/jobs/{UNKNOWN_JOB}/logs?run=abc", method="GET"),
    case("run-0", 400, "run", path=f"/jobs/{UNKNOWN_JOB}/logs?run=0", method="GET"),
    case("kind-bogus", 400, "kind", path=f"/jobs/{UNKNOWN_JOB}/logs?kind=bogus", method="GET"),
    case(
        "kind-second", 400, "kind", path=f"/jobs/{UNKNOWN_JOB}/logs?kind=log&kind=x", method="GET"
    ),
]


@pytest.mark.parametrize(("method", "path", "data", "content_type", "status", "field"), CASES)
def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    dev: Dev, method, path, data, content_type, status, field
):
    before = dev.counts()
    got, answer = dev.request(method, path, data, content_type)
    assert got == status, answer
    text = text_of(answer)
    assert names_field(text, field), text
    assert dev.counts() == before


def test_dollar_and_dot_keys_are_accepted_stored_escaped_and_read_back(dev: Dev):
    """A documented decision: user keys are data, escaped on the way into MongoDB."""
    parameters = {"$gt": 1, "a.b": {"$where": "x", "c.d": [1, {"$in": 2}]}, "%2E": "%"}
    request = {"task": "anything", "parameters": parameters, "key": uuid.uuid4().hex}
    status, created = dev.request("POST", "/jobs", body(request))
    assert status == 202, created
    dev.accepted.add(created["job_id"])
    stored = dev.db.jobs.find_one({"_id": created["job_id"]})
    assert "$gt" not in stored["parameters"] and "%24gt" in stored["parameters"]
    status, job = dev.request("GET", f"/jobs/{created['job_id']}")
    assert status == 200 and job["parameters"] == parameters


def test_after_the_table_only_the_accepted_jobs_exist_in_mongo_and_batch(dev: Dev):
    jobs = {doc["_id"] for doc in dev.db.jobs.find({}, {"_id": 1})}
    assert jobs == dev.accepted
    assert {doc["job_id"] for doc in dev.db.runs.find()} <= dev.accepted
    assert {doc["job_id"] for doc in dev.db.logs.find()} <= dev.accepted
    env = dev.env
    batch = boto3.client(
        "batch",
        endpoint_url=env["AWS_ENDPOINT_URL_BATCH"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    names = set()
    for status in (
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    ):
        for page in batch.get_paginator("list_jobs").paginate(
            jobQueue=env["JOB_QUEUE"], jobStatus=status
        ):
            names |= {job["jobName"] for job in page["jobSummaryList"]}
    assert names == dev.accepted
