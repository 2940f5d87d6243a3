"""The submitter's execution environments in `overlord dev`: several, one invocation each."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from overlord_local.devstack.lambdas import Environments, load_fresh_handler, load_handler
from overlord_local.devstack.running import http
from overlord_local.gateway import GatewayServer

SUBMITTER = "overlord_submitter.handler.lambda_handler"


class Counting:
    """Handlers that record how many invocations each runs at once, and all of them."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.guard = threading.Lock()
        self.inside: dict[int, int] = {}
        self.most_in_one = 0
        self.most_overall = 0

    def new_environment(self) -> Any:
        number = len(self.inside)
        self.inside[number] = 0

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.guard:
                self.inside[number] += 1
                self.most_in_one = max(self.most_in_one, self.inside[number])
                self.most_overall = max(self.most_overall, sum(self.inside.values()))
            time.sleep(self.pause)
            with self.guard:
                self.inside[number] -= 1
            return {"statusCode": 200, "body": "{}"}

        return handler


def post_many(invoke: Any, requests: int, clients: int) -> list[int]:
    server = GatewayServer("127.0.0.1", 0, invoke).start()
    try:
        url = f"http://127.0.0.1:{server.port}/jobs"
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(lambda _: http("POST", url, {})[0], range(requests)))
    finally:
        server.stop()


def test_requests_run_at_once_in_environments_up_to_the_limit():
    counting = Counting(pause=0.2)
    environments = Environments(counting.new_environment, 4, "f")
    assert post_many(environments, requests=24, clients=12) == [200] * 24
    assert counting.most_in_one == 1  # never two invocations in one environment
    assert 2 <= counting.most_overall <= 4
    assert environments.made == len(counting.inside) <= 4


def test_warm_environments_are_reused():
    counting = Counting(pause=0.0)
    environments = Environments(counting.new_environment, 4, "f")
    assert post_many(environments, requests=10, clients=1) == [200] * 10
    assert environments.made == 1


def test_a_failed_cold_start_gives_its_place_back():
    counting = Counting(pause=0.0)
    attempts = 0

    def flaky() -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("init failed")
        return counting.new_environment()

    environments = Environments(flaky, 1, "f")
    with pytest.raises(RuntimeError):
        environments({})
    assert environments.made == 0
    assert environments({}) == {"statusCode": 200, "body": "{}"}
    assert environments.made == 1


def test_each_environment_has_its_own_module_state():
    """What the gateway relies on to run the submitter several times at once: Powertools'
    resolver keeps the current request on the module's `app` (two requests through one
    `app` at once answered 500 KeyError '_route', and once another request's job)."""
    first = load_handler(SUBMITTER)
    second = load_fresh_handler(SUBMITTER)
    third = load_fresh_handler(SUBMITTER)
    apps = [h.__wrapped__.__globals__["app"] for h in (first, second, third)]
    assert len({id(app) for app in apps}) == 3
    assert first.__wrapped__.__globals__["wiring"] is second.__wrapped__.__globals__["wiring"]
