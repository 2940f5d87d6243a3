"""The local stacks' Batch rule target (an SQS queue) and the recorder's event source
mapping: batches by size and window, partial failures redelivered after the visibility
timeout, dead letters after maxReceiveCount (eventrouter.queues, eventrouter.mapping)."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest

from overlord_local.eventrouter import (
    EventRouter,
    EventSourceMapping,
    MemoryQueue,
    QueueTarget,
    SqsQueue,
)
from overlord_local.provision import ensure_event_queues
from tests.localbatch.conftest import CREDENTIALS
from tests.support.waiting import wait_for

ALL = {"source": ["aws.batch"]}


def _event(i: int) -> dict[str, Any]:
    return {"id": str(i), "source": "aws.batch", "detail": {"jobId": f"j{i}", "status": "RUNNING"}}


class Function:
    """A recorder stand-in: records what each invocation got; fails the messages whose
    event id is in `failing` (for `times` receives each, or always), or the whole batch."""

    def __init__(self, failing: set[str] = frozenset(), times: int | None = None) -> None:
        self.failing, self.times = set(failing), times
        self.batches: list[list[str]] = []
        self.seen: Counter[str] = Counter()
        self.crash = False
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        ids = [json.loads(r["body"])["id"] for r in event["Records"]]
        with self.lock:
            self.batches.append(ids)
            self.seen.update(ids)
            if self.crash:
                raise RuntimeError("function error")
            failed = [
                r["messageId"]
                for r, i in zip(event["Records"], ids, strict=True)
                if i in self.failing and (self.times is None or self.seen[i] <= self.times)
            ]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def _flow(queue: Any, function: Function, **mapping: Any) -> tuple[EventRouter, EventSourceMapping]:
    router = EventRouter()
    router.add_rule(ALL, QueueTarget(queue))
    esm = EventSourceMapping(queue, function, **mapping).start()
    return router, esm


def test_events_reach_the_function_in_batches_of_at_most_batch_size():
    function = Function()
    router, esm = _flow(MemoryQueue(), function, batch_size=10, window=0.3, concurrency=2)
    for i in range(25):
        router.put(_event(i))
    assert router.drain(10) and esm.drain(10)
    esm.stop()
    assert sorted(function.seen) == sorted(str(i) for i in range(25))
    assert set(function.seen.values()) == {1}
    assert max(len(b) for b in function.batches) == 10
    # the window fills batches: far fewer invocations than events
    assert len(function.batches) <= 6, function.batches


def test_a_failed_message_comes_back_after_the_visibility_timeout_and_only_it(tmp_path):
    function = Function(failing={"3"}, times=2)
    queue = MemoryQueue(
        visibility_timeout=0.3, max_receive_count=5, dead_letter_path=tmp_path / "d"
    )
    router, esm = _flow(queue, function, batch_size=10, window=0.2)
    for i in range(6):
        router.put(_event(i))
    assert router.drain(10) and esm.drain(10)
    esm.stop()
    assert function.seen == Counter({"3": 3, "0": 1, "1": 1, "2": 1, "4": 1, "5": 1})
    assert not (tmp_path / "d").exists()


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_receive_count(tmp_path):
    function = Function(failing={"1"})
    dead = tmp_path / "dead-letters.jsonl"
    # visible again only after the window and the invocation: shorter, and the same
    # message would reach two pollers at once (why AWS wants 6 x the function's timeout)
    queue = MemoryQueue(visibility_timeout=0.5, max_receive_count=3, dead_letter_path=dead)
    router, esm = _flow(queue, function, batch_size=5, window=0.1)
    for i in range(3):
        router.put(_event(i))
    assert router.drain(10) and esm.drain(10)
    esm.stop()
    assert function.seen == Counter({"1": 3, "0": 1, "2": 1})
    [line] = dead.read_text().splitlines()
    record = json.loads(line)
    assert record["event"]["id"] == "1" and record["receive_count"] == 3


def test_a_function_error_returns_the_whole_batch():
    function = Function()
    function.crash = True
    queue = MemoryQueue(visibility_timeout=0.3)
    router, esm = _flow(queue, function, batch_size=10, window=0.2)
    for i in range(3):
        router.put(_event(i))
    wait_for(lambda: len(function.batches) >= 1, 10, "a first invocation")
    with function.lock:
        function.crash = False
    assert esm.drain(10)
    esm.stop()
    assert all(function.seen[str(i)] >= 2 for i in range(3)), function.seen


def test_an_answer_naming_a_message_not_in_the_batch_fails_the_batch():
    from overlord_local.eventrouter.mapping import failed_ids
    from overlord_local.eventrouter.queues import Message

    batch = [Message("a", "r", "{}", 1, 0), Message("b", "r", "{}", 1, 0)]
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, batch) == {"a", "b"}
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, batch) == {"b"}


@pytest.fixture
def sqs_env(logs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3's default session on the moto server (as LocalStack in `make up`)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", logs_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", CREDENTIALS["region_name"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("sqs")


def test_the_same_over_a_real_sqs_queue_with_its_redrive_policy(sqs_env):
    """`make up`'s path: the queue the LocalStack hook makes (here on moto server),
    the redrive policy sending what keeps failing to the DLQ."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    # 3 s: long enough for a batch on a loaded machine (a message whose batch outlasts
    # it comes back, as on SQS), short enough for the failing one's two receives.
    url = ensure_event_queues(name, visibility_timeout=3, max_receive_count=2)
    function = Function(failing={"2"})
    router, esm = _flow(SqsQueue.named(name), function, batch_size=10, window=0.5)
    for i in range(12):
        router.put(_event(i))
    assert router.drain(20)
    assert esm.drain(30)
    esm.stop()
    assert max(len(b) for b in function.batches) <= 10
    # At least once (SQS); that the others were deleted, not merely seen, is the DLQ's
    # holding only the failing one.
    assert {i for i, n in function.seen.items() if n >= 1} == {str(i) for i in range(12)}
    dlq = sqs_env.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"]
    got = sqs_env.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["id"] for m in got] == ["2"]
    assert url.endswith(name)
