"""The local event router: EventBridge patterns, targets, retries and dead letters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from overlord_local.eventrouter import EventRouter, LambdaInvokeTarget, load_batch_pattern, matches
from overlord_local.localbatch import LocalBatchServer, ProcessExecutor, Timings
from tests.localbatch.conftest import CREDENTIALS
from tests.support.waiting import wait_for

EVENTS = Path(__file__).resolve().parent.parent / "events"
SAMPLE: dict[str, Any] = json.loads((EVENTS / "batch-job-state-change-succeeded.json").read_text())
SAMPLE_QUEUE = SAMPLE["detail"]["jobQueue"]
# The states the local Batch reports for a job that runs and succeeds (it sends no
# SUBMITTED event, as AWS documents for EventBridge).
STATES = {"PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"}


def with_detail(**changes: Any) -> dict[str, Any]:
    return {**SAMPLE, "detail": {**SAMPLE["detail"], **changes}}


def test_batch_pattern_matches_only_our_queue() -> None:
    pattern = load_batch_pattern(SAMPLE_QUEUE)
    assert pattern["detail"]["jobQueue"] == [SAMPLE_QUEUE]
    assert matches(pattern, SAMPLE)
    assert not matches(pattern, with_detail(jobQueue=SAMPLE_QUEUE + "-other"))
    assert not matches(pattern, {**SAMPLE, "detail-type": "Batch Job Queue Blocked"})
    assert not matches(pattern, {k: v for k, v in SAMPLE.items() if k != "detail"})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"detail": {"status": ["FAILED", "SUCCEEDED"]}}, True),
        ({"detail": {"status": ["FAILED"]}}, False),
        ({"detail": {"status": [{"anything-but": ["FAILED", "RUNNING"]}]}}, True),
        ({"detail": {"status": [{"anything-but": "SUCCEEDED"}]}}, False),
        ({"detail": {"jobName": [{"prefix": "event-"}]}}, True),
        ({"detail": {"jobName": [{"suffix": "-test"}]}}, True),
        ({"detail": {"jobName": [{"equals-ignore-case": "EVENT-TEST"}]}}, True),
        ({"detail": {"jobName": [{"wildcard": "event*"}]}}, True),
        ({"detail": {"statusReason": [{"exists": True}]}}, True),
        ({"detail": {"nope": [{"exists": False}]}}, True),
        ({"detail": {"nope": [{"exists": True}]}}, False),
        ({"detail": {"createdAt": [{"numeric": [">", 0, "<=", 1641944200058]}]}}, True),
        ({"detail": {"createdAt": [1641944200058]}}, True),
        ({"detail": {"createdAt": ["1641944200058"]}}, False),
        ({"detail": {"propagateTags": [False]}}, True),
        ({"resources": [{"prefix": "arn:aws:batch:"}]}, True),
        ({"detail": {"container": {"command": ["600"]}}}, True),
        ({"detail": {"container": {"exitCode": [1]}}}, False),
    ],
)
def test_pattern_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, SAMPLE) is expected


def test_callable_target_retried_then_delivered(tmp_path: Path) -> None:
    calls: list[tuple[str, Any]] = []

    def flaky(event: dict[str, Any], context: Any) -> None:
        calls.append((event["id"], context.aws_request_id))
        if len(calls) < 3:
            raise RuntimeError("not yet")

    router = EventRouter(dead_letter_path=tmp_path / "dlq.jsonl", backoff_initial=0.01)
    router.add_rule(load_batch_pattern(SAMPLE_QUEUE), flaky)
    router.put(SAMPLE)
    assert router.stop(timeout=5)
    assert [c[0] for c in calls] == [SAMPLE["id"]] * 3
    assert router.stats.delivered == 1
    assert not (tmp_path / "dlq.jsonl").exists()


def test_failing_target_goes_to_the_dead_letter_file(tmp_path: Path) -> None:
    attempts: list[int] = []

    def broken(event: dict[str, Any], context: Any) -> None:
        attempts.append(1)
        raise ValueError("recorder down")

    dead_letters = tmp_path / "dlq" / "events.jsonl"
    router = EventRouter(dead_letter_path=dead_letters, max_attempts=3, backoff_initial=0.01)
    router.add_rule({"source": ["aws.batch"]}, broken, name="to-recorder")
    router.put(SAMPLE)
    router.put({**SAMPLE, "source": "aws.ec2"})  # matches nothing
    assert router.drain(timeout=5)
    assert len(attempts) == 3
    [line] = dead_letters.read_text().splitlines()
    record = json.loads(line)
    assert record["event"] == SAMPLE
    assert record["rule"] == "to-recorder"
    assert record["attempts"] == 3
    assert "recorder down" in record["error"]
    assert router.stats.unmatched == 1
    router.stop()


def test_put_never_waits_for_a_slow_target() -> None:
    release = threading.Event()
    seen: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> None:
        release.wait(5)
        seen.append(event["id"])

    router = EventRouter()
    router.add_rule({"source": ["aws.batch"]}, slow)
    for i in range(5):
        router.put({**SAMPLE, "id": str(i)})
    # a put that waited for the target would have waited until it gave up (5 s) and seen it end
    assert seen == []
    assert not router.drain(timeout=0.05)
    release.set()
    assert router.stop(timeout=5)
    assert sorted(seen) == ["0", "1", "2", "3", "4"]  # EventBridge keeps no order either


def test_deliveries_run_side_by_side() -> None:
    together = threading.Barrier(4, timeout=5)
    seen: list[str] = []

    def waits_for_the_others(event: dict[str, Any], context: Any) -> None:
        together.wait()  # raises BrokenBarrierError unless four deliveries are in flight
        seen.append(event["id"])

    router = EventRouter(workers=4, max_attempts=1)
    router.add_rule({"source": ["aws.batch"]}, waits_for_the_others)
    for i in range(4):
        router.put({**SAMPLE, "id": str(i)})
    assert router.stop(timeout=10)
    assert sorted(seen) == ["0", "1", "2", "3"] and router.stats.failed == 0


class _Emulator(BaseHTTPRequestHandler):
    """Answers like the Lambda Runtime Interface Emulator's invoke endpoint."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert isinstance(self.server, _EmulatorServer)
        self.server.received.append(body)
        payload: dict[str, Any]
        if self.path.startswith("/fail"):
            payload = {"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": []}
        else:
            payload = {"ok": True}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _EmulatorServer(ThreadingHTTPServer):
    received: list[dict[str, Any]]


@pytest.fixture
def emulator() -> Iterator[_EmulatorServer]:
    server = _EmulatorServer(("127.0.0.1", 0), _Emulator)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_lambda_invoke_url_target(emulator: _EmulatorServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{emulator.server_port}"
    invocations = "/2015-03-31/functions/function/invocations"
    router = EventRouter(
        dead_letter_path=tmp_path / "dlq.jsonl", max_attempts=2, backoff_initial=0.01
    )
    router.add_rule(
        {"source": ["aws.batch"]},
        f"{base}{invocations}",
        LambdaInvokeTarget(f"{base}/fail{invocations}", name="failing"),
    )
    router.put(SAMPLE)
    assert router.stop(timeout=5)
    assert emulator.received == [SAMPLE] * 3  # one success, two failed tries
    [record] = [json.loads(line) for line in (tmp_path / "dlq.jsonl").read_text().splitlines()]
    assert record["target"] == "failing"
    assert "boom" in record["error"]


def test_unreachable_url_is_dead_lettered(tmp_path: Path) -> None:
    router = EventRouter(
        dead_letter_path=tmp_path / "dlq.jsonl", max_attempts=2, backoff_initial=0.01
    )
    router.add_rule({"source": ["aws.batch"]}, "http://127.0.0.1:9/invocations")
    router.put(SAMPLE)
    assert router.stop(timeout=10)
    assert router.stats.failed == 1
    assert "unreachable" in router.stats.dead_letters[0]["error"]


def test_local_batch_events_reach_an_in_process_handler(logs_client: Any, tmp_path: Path) -> None:
    received: list[tuple[dict[str, Any], Any]] = []
    router = EventRouter(dead_letter_path=tmp_path / "dlq.jsonl")
    server = LocalBatchServer(
        ProcessExecutor(logs_client),
        on_event=router.put,
        timings=Timings(step=0.01),
        region="us-east-1",
    ).start()
    try:
        batch = boto3.client("batch", endpoint_url=server.endpoint_url, **CREDENTIALS)
        batch.create_compute_environment(
            computeEnvironmentName="ce",
            type="MANAGED",
            computeResources={"type": "FARGATE", "maxvCpus": 1, "subnets": []},
        )
        for name in ("ours", "theirs"):
            batch.create_job_queue(
                jobQueueName=name,
                priority=1,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce"}],
            )
        queue_arn = batch.describe_job_queues(jobQueues=["ours"])["jobQueues"][0]["jobQueueArn"]
        router.add_rule(load_batch_pattern(queue_arn), lambda e, c: received.append((e, c)))
        batch.register_job_definition(
            jobDefinitionName="hello",
            type="container",
            containerProperties={"image": "x", "command": ["python", "-c", "print(1)"]},
        )
        ours = batch.submit_job(jobName="a", jobQueue="ours", jobDefinition="hello")["jobId"]
        batch.submit_job(jobName="b", jobQueue="theirs", jobDefinition="hello")

        # Wait for the events, not for a time: with four delivery threads the SUCCEEDED
        # event may be delivered before RUNNING's (EventBridge promises no order either).
        wait_for(
            lambda: {e["detail"]["status"] for e, _ in received} >= STATES,
            120,
            "every state's event delivered",
        )
    finally:
        server.stop()
        router.stop()
    assert {e["detail"]["jobId"] for e, _ in received} == {ours}
    # What is promised: each state of the run reported once (this router does not
    # duplicate without chaos), in whatever order the deliveries finished.
    statuses = [e["detail"]["status"] for e, _ in received]
    assert sorted(statuses) == sorted(STATES), statuses
    assert all(c.get_remaining_time_in_millis() >= 0 for _, c in received)
