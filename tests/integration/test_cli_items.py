"""`overlord submit TASK --items FILE` (array jobs) over real HTTP, signed with SigV4.

The API's array side is built separately: here the real gateway checks each signature
and a small stub handler answers as the contract says (`POST /jobs` → 202, `GET
/jobs/{id}` with `array: {size, counts, failed_indices}`), as test_gateway_auth does.
The end-to-end run against `overlord dev` belongs in tests/e2e once the API has items.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overlord_local.apigateway.gateway import GatewayServer, in_process
from overlord_local.apigateway.sigv4 import Verifier

KEY, SECRET = "cli-items", "s3cret-of-the-stub"
JOB_ID = "job-0123456789abcdef01234567"
ITEMS = [{"message": "a"}, {"message": "b"}, {"message": "c"}]


class StubApi:
    """POST /jobs takes the array; each GET /jobs/{id} shows the next of ``states``."""

    def __init__(self, states: list[tuple[str, dict[str, int], list[int]]]) -> None:
        self.states = states
        self.posted: list[dict[str, Any]] = []
        self.callers: list[str] = []
        self.gets = 0

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.callers.append(event["requestContext"]["authorizer"]["iam"]["accessKey"])
        method = event["requestContext"]["http"]["method"]
        if method == "POST" and event["rawPath"] == "/jobs":
            self.posted.append(json.loads(event["body"]))
            body = {"job_id": JOB_ID, "created": True, "status": "SUBMITTED"}
            return {"statusCode": 202, "body": json.dumps(body)}
        if method == "GET" and event["rawPath"] == f"/jobs/{JOB_ID}":
            status, counts, failed = self.states[min(self.gets, len(self.states) - 1)]
            self.gets += 1
            job = {
                "job_id": JOB_ID,
                "task": "echo",
                "status": status,
                "items_count": 3,
                "array": {"size": 3, "counts": counts, "failed_indices": failed},
                "latest_run": {"status": status},
            }
            return {"statusCode": 200, "body": json.dumps(job)}
        return {"statusCode": 404, "body": json.dumps({"detail": "not in the stub"})}


@pytest.fixture
def serve():
    servers: list[GatewayServer] = []

    def start(stub: StubApi) -> str:
        verifier = Verifier(KEY, SECRET, "us-east-1")
        server = GatewayServer("127.0.0.1", 0, in_process(stub), verifier).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.stop()


def overlord(url: str, cwd: Path, *args: str, stdin: str | None = None):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OVERLORD_")) or k == "AWS_CONFIG_FILE"
    }
    env.update(
        OVERLORD_API_URL=url,
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(cwd / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-aws-credentials"),
        COLUMNS="120",
    )
    return subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "submit", "echo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        input=stdin,
    )


RUNNING = ("RUNNING", {"SUCCEEDED": 1, "RUNNING": 2}, [])


def test_a_json_list_is_one_signed_request_followed_with_a_progress_bar(serve, tmp_path):
    stub = StubApi(
        [
            ("SUBMITTED", {}, []),
            RUNNING,
            ("FAILED", {"SUCCEEDED": 2, "FAILED": 1}, [1]),
        ]
    )
    url = serve(stub)
    (tmp_path / "items.json").write_text(json.dumps(ITEMS))
    done = overlord(url, tmp_path, "--items", "items.json", "--key", "k1")

    assert done.returncode == 1, done.stdout + done.stderr
    assert stub.posted == [{"task": "echo", "items": ITEMS, "key": "k1"}]
    assert set(stub.callers) == {KEY}
    assert stub.gets == 3, "polled until the job finished"
    assert f"{JOB_ID} submitted (SUBMITTED, 3 children)" in done.stdout
    assert "3/3" in done.stderr and "1 failed" in done.stderr, done.stderr
    assert f"FAILED {JOB_ID}" in done.stdout
    assert "1 of 3 failed: 1" in done.stdout
    assert f"overlord logs {JOB_ID} --index 1" in done.stdout


def test_json_lines_from_stdin_and_success_exit_0(serve, tmp_path):
    stub = StubApi([RUNNING, ("SUCCEEDED", {"SUCCEEDED": 3}, [])])
    url = serve(stub)
    lines = "\n".join(json.dumps(item) for item in ITEMS) + "\n\n"
    done = overlord(url, tmp_path, "--items", "-", stdin=lines)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stub.posted == [{"task": "echo", "items": ITEMS}]
    assert f"SUCCEEDED {JOB_ID}" in done.stdout
    assert "3/3" in done.stderr


def test_no_wait_and_json_output(serve, tmp_path):
    stub = StubApi([("SUCCEEDED", {"SUCCEEDED": 3}, [])])
    url = serve(stub)
    (tmp_path / "items.json").write_text(json.dumps(ITEMS))
    quick = overlord(url, tmp_path, "--items", "items.json", "--no-wait", "-o", "json")
    assert quick.returncode == 0, quick.stderr
    assert json.loads(quick.stdout)["job_id"] == JOB_ID
    assert stub.gets == 0

    followed = overlord(url, tmp_path, "--items", "items.json", "-o", "json")
    assert followed.returncode == 0, followed.stderr
    created, final = followed.stdout.split("\n}\n", 1)
    assert json.loads(created + "}")["created"] is True
    assert json.loads(final)["array"]["counts"] == {"SUCCEEDED": 3}


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("[{]", (), "not a JSON list"),
        ('{"message": "a"}\n{oops}\n', (), "line 2: not JSON"),
        ("\n\n", (), "holds no items"),
        ("[]", (), "holds no items"),
        (json.dumps(ITEMS), ("-p", "message=x"), "not both"),
    ],
)
def test_a_bad_items_file_is_a_usage_error_and_sends_nothing(
    serve, tmp_path, content, args, message
):
    stub = StubApi([("SUCCEEDED", {}, [])])
    url = serve(stub)
    (tmp_path / "items").write_text(content)
    refused = overlord(url, tmp_path, "--items", "items", *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--items" in refused.stderr and message in refused.stderr, refused.stderr
    assert stub.posted == [] and stub.callers == []
