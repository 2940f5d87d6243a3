"""Chaos in the local stack (overlord_local.chaos): events duplicated, delayed, reordered
and delivered side by side, as a seed plans; SubmitJob's answer held past a child's end."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.config import Config

from overlord_local.chaos import Chaos, ChaosConfigError
from overlord_local.eventrouter import EventRouter
from overlord_local.eventrouter.router import DEFAULT_WORKERS
from overlord_local.localbatch import LocalBatchServer, ProcessExecutor, Timings
from overlord_local.localbatch.__main__ import chaos_from, parse_args
from tests.localbatch.conftest import CREDENTIALS, REGION
from tests.support.waiting import wait_for

BATCH = {"source": ["aws.batch"]}


def event(i: int) -> dict[str, Any]:
    return {"id": str(i), "source": "aws.batch", "detail": {"n": i}}


def planned(seed: int, count: int, **knobs: Any) -> list[list[float]]:
    """The copies' delays the router draws for `count` events with this seed."""
    stream = Chaos(seed=seed, **knobs).stream("eventrouter")
    return [stream.delivery_delays() for _ in range(count)]


def test_a_seed_replays_the_same_plan_and_another_seed_does_not() -> None:
    assert planned(11, 50) == planned(11, 50)
    assert planned(11, 50) != planned(12, 50)
    copies = Counter(len(delays) for delays in planned(11, 200))
    assert set(copies) == {1, 2, 3}  # once, twice and three times, with the defaults


def test_the_default_router_delivers_on_several_threads() -> None:
    assert EventRouter().workers == DEFAULT_WORKERS > 1
    assert parse_args([]).event_workers == DEFAULT_WORKERS


def test_chaos_delivers_each_event_as_often_as_the_seed_plans() -> None:
    seed, count = 7, 30
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def target(e: dict[str, Any], context: Any) -> None:
        with lock:
            seen[e["id"]] += 1

    router = EventRouter(chaos=Chaos(seed=seed, max_delay=0.2))
    router.add_rule(BATCH, target)
    for i in range(count):
        router.put(event(i))
    assert router.stop(timeout=60)
    plan = planned(seed, count, max_delay=0.2)
    assert seen == Counter({str(i): len(delays) for i, delays in enumerate(plan)})
    assert any(n > 1 for n in seen.values())  # duplicated
    assert router.stats.delivered == sum(len(d) for d in plan)


def test_chaos_reorders_events_as_their_delays_say() -> None:
    """One worker, so the order of delivery is the order of release: by each copy's
    delay, not by put order. Pairs released less than 0.4 s apart are not compared, so
    a slow machine (the puts take time too) cannot make this fail."""
    seed, count, spread = 3, 12, 2.0
    order: list[str] = []
    router = EventRouter(workers=1, chaos=Chaos(seed=seed, duplicate_rate=0.0, max_delay=spread))
    router.add_rule(BATCH, lambda e, c: order.append(e["id"]))
    for i in range(count):
        router.put(event(i))
    assert router.stop(timeout=60)
    delays = [d for [d] in planned(seed, count, duplicate_rate=0.0, max_delay=spread)]
    assert sorted(order, key=int) == [str(i) for i in range(count)]
    assert order != sorted(order, key=int)  # not in put order
    position = {int(e): n for n, e in enumerate(order)}
    compared = 0
    for a in range(count):
        for b in range(count):
            if delays[b] - delays[a] > 0.4:
                compared += 1
                assert position[a] < position[b], (a, b, delays[a], delays[b], order)
    # a put that came later but was due earlier is delivered first
    assert any(delays[a] - delays[b] > 0.4 for a in range(count) for b in range(a + 1, count))
    assert compared > 10


def test_chaos_deliveries_still_run_side_by_side() -> None:
    together = threading.Barrier(4, timeout=30)
    seen: list[str] = []

    def waits_for_the_others(e: dict[str, Any], context: Any) -> None:
        together.wait()  # BrokenBarrierError unless four deliveries are in flight at once
        seen.append(e["id"])

    router = EventRouter(
        workers=4, max_attempts=1, chaos=Chaos(seed=1, duplicate_rate=0.0, max_delay=0.0)
    )
    router.add_rule(BATCH, waits_for_the_others)
    for i in range(4):
        router.put(event(i))
    assert router.stop(timeout=60)
    assert sorted(seen) == ["0", "1", "2", "3"] and router.stats.failed == 0


def test_a_duplicate_is_a_copy_of_its_own() -> None:
    got: list[dict[str, Any]] = []

    def mutating(e: dict[str, Any], context: Any) -> None:
        got.append(e)
        e["detail"]["n"] = "changed by a handler"

    router = EventRouter(workers=1, chaos=Chaos(seed=5, duplicate_rate=1.0, max_delay=0.0))
    router.add_rule(BATCH, mutating)
    original = event(1)
    router.put(original)
    assert router.stop(timeout=30)
    assert len(got) == 3 and original["detail"]["n"] == 1
    assert all(e is not original for e in got)


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({}, [], None),
        ({"OVERLORD_CHAOS": "0"}, [], None),
        ({"OVERLORD_CHAOS": "1", "OVERLORD_CHAOS_SEED": "42"}, [], 42),
        ({"OVERLORD_CHAOS": "1"}, ["--chaos-seed", "9"], 9),
        ({}, ["--chaos", "--chaos-seed", "8"], 8),
        ({"OVERLORD_CHAOS": "1", "OVERLORD_CHAOS_SEED": "42"}, ["--no-chaos"], None),
    ],
)
def test_the_local_batch_reads_the_switch_and_the_seed(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], argv: list[str], expected: int | None
) -> None:
    for name in ("OVERLORD_CHAOS", "OVERLORD_CHAOS_SEED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    chaos = chaos_from(parse_args(argv))
    assert (chaos.seed if chaos else None) == expected


def test_a_bad_switch_or_seed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ChaosConfigError, match="OVERLORD_CHAOS"):
        Chaos.from_env({"OVERLORD_CHAOS": "maybe"})
    with pytest.raises(ChaosConfigError, match="OVERLORD_CHAOS_SEED"):
        Chaos.from_env({"OVERLORD_CHAOS": "1", "OVERLORD_CHAOS_SEED": "x"})
    monkeypatch.setenv("OVERLORD_CHAOS", "1")
    monkeypatch.setenv("OVERLORD_CHAOS_SEED", "x")
    with pytest.raises(SystemExit, match="OVERLORD_CHAOS_SEED"):
        chaos_from(parse_args([]))


def test_an_array_submit_is_answered_only_after_a_child_has_ended(logs_client: Any) -> None:
    """What the submitter meets in AWS when SubmitJob's answer is slow: the recorder
    gets a child's end before the submitter can record the parent."""
    ended: dict[str, float] = {}

    def sink(e: dict[str, Any]) -> None:
        detail = e["detail"]
        if detail["status"] in {"SUCCEEDED", "FAILED"}:
            ended.setdefault(detail["jobId"], time.monotonic())

    chaos = Chaos(seed=2, max_delay=0.1, array_answer_wait=60.0)
    server = LocalBatchServer(
        ProcessExecutor(logs_client),
        on_event=sink,
        timings=Timings(step=0.01),
        region=REGION,
        chaos=chaos,
    ).start()
    try:
        batch = boto3.client("batch", endpoint_url=server.endpoint_url, **CREDENTIALS)
        batch.create_compute_environment(
            computeEnvironmentName="ce",
            type="MANAGED",
            computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": []},
        )
        batch.create_job_queue(
            jobQueueName="q",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce"}],
        )
        batch.register_job_definition(
            jobDefinitionName="quick",
            type="container",
            containerProperties={"image": "x", "command": ["python", "-c", "print(1)"]},
        )
        slow = boto3.client(
            "batch",
            endpoint_url=server.endpoint_url,
            config=Config(read_timeout=90, retries={"total_max_attempts": 1}),
            **CREDENTIALS,
        )
        parent = slow.submit_job(
            jobName="arr", jobQueue="q", jobDefinition="quick", arrayProperties={"size": 2}
        )["jobId"]
        answered = time.monotonic()
        children_ended = [t for job_id, t in ended.items() if job_id.startswith(parent + ":")]
        assert children_ended and min(children_ended) < answered
        wait_for(lambda: parent in ended, 60, "the array's end")
    finally:
        server.stop()
