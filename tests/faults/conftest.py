"""A whole flow in this process, with its parts in the test's hands.

Each test gets its own FerretDB (so it can stop and restart MongoDB on the same port
and data), its own local Batch (process executor, optionally failing SubmitJob), an
event router whose target the test may wrap, the submitter called as API Gateway calls
it, and the reconcile handler. moto serves S3 and CloudWatch Logs (session fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from overlord.runtime import wiring
from overlord_local import provision
from overlord_local.devstack.ferretdb import FerretDB
from overlord_local.devstack.processes import PROJECT_ROOT
from overlord_local.eventrouter import EventRouter, load_batch_pattern
from overlord_local.lambdas import LocalLambdaContext
from overlord_local.localbatch import LocalBatchServer, ProcessExecutor, SubmitFaults, Timings
from overlord_recorder.handler import lambda_handler as recorder
from overlord_recorder.handler import reconcile_handler
from overlord_submitter.handler import lambda_handler as submitter
from tests.conftest import RESULTS_BUCKET, environment
from tests.support import waiting
from tests.support.api import Api

TERMINAL = {"SUCCEEDED", "FAILED"}
QUEUE = "overlord-faults"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


# These conditions query MongoDB or the local Batch, which the flow under test is busy with.
wait_for = partial(waiting.wait_for, interval=0.1)


@dataclass
class Flow:
    mongo: FerretDB
    db: Database
    batch_server: LocalBatchServer
    router: EventRouter
    tmp: Path
    # The router's target; a test may replace it (e.g. to drop deliveries).
    deliver: Callable[[dict[str, Any]], Any] = field(default=lambda e: None)
    api: Api = field(default_factory=lambda: Api(submitter))

    @property
    def batch(self) -> Any:
        return boto3.client("batch", endpoint_url=self.batch_server.endpoint_url)

    def stop_mongo(self) -> None:
        """MongoDB gone at once (SIGKILL): a graceful stop takes seconds, in which the
        flow would carry on as if nothing happened."""
        proc = self.mongo.proc
        assert proc is not None
        proc.kill()
        proc.wait()
        self.mongo.proc = None

    def start_mongo(self) -> None:
        self.mongo.start()

    def reconcile(self) -> dict[str, Any]:
        """One reconcile pass, every in-flight job counted as stale
        (RECONCILE_AFTER_SECONDS=0 in this flow's environment)."""
        return dict(reconcile_handler({}, LocalLambdaContext()))

    def batch_jobs_named(self, name: str) -> list[dict[str, Any]]:
        """ListJobs by JOB_NAME (every status); `*` matches any name."""
        pages = self.batch.get_paginator("list_jobs").paginate(
            jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": [name]}]
        )
        return [summary for page in pages for summary in page["jobSummaryList"]]

    def all_batch_jobs(self) -> list[dict[str, Any]]:
        return self.describe([j["jobId"] for j in self.batch_jobs_named("*")])

    def describe(self, batch_job_ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(batch_job_ids), 100):
            out += self.batch.describe_jobs(jobs=batch_job_ids[i : i + 100])["jobs"]
        return out

    def wait_batch_done(self, timeout: float = 90) -> list[dict[str, Any]]:
        """Every Batch job terminal; returns their descriptions."""

        def done() -> list[dict[str, Any]] | None:
            jobs = self.all_batch_jobs()
            return jobs if all(j["status"] in TERMINAL for j in jobs) else None

        return wait_for(done, timeout, "Batch to finish its jobs")

    def drain(self, timeout: float = 120) -> None:
        assert self.router.drain(timeout), "the router still holds events"


@pytest.fixture
def make_flow(
    tmp_path: Path, moto_endpoint: str, mongo_client: MongoClient
) -> Iterator[Callable[..., Flow]]:
    built: list[Callable[[], None]] = []
    first: list[Callable[[], None]] = []  # Batch and routers stop before the rest goes

    def make(
        *, submit_faults: SubmitFaults | None = None, max_vcpus: int = 1, router_attempts: int = 8
    ) -> Flow:
        here = tmp_path / f"flow-{len(built)}"
        mongo = FerretDB(here / "ferretdb")
        uri = mongo.start()
        built.append(mongo.stop)
        router = EventRouter(
            dead_letter_path=here / "dead-letters.jsonl",
            max_attempts=router_attempts,
            backoff_initial=0.2,
            backoff_max=2.0,
        )
        first.append(lambda: router.stop(5))
        flow_holder: dict[str, Flow] = {}

        def on_event(event: dict[str, Any]) -> None:
            router.put(event)

        server = LocalBatchServer(
            ProcessExecutor(cwd=str(PROJECT_ROOT), kill_grace=1.0),
            on_event=on_event,
            timings=Timings(step=0.02, capacity_recheck=0.1),
            extra_environment={"RESULTS_BUCKET": RESULTS_BUCKET, "LOG_LEVEL": "INFO"},
            submit_faults=submit_faults,
        ).start()
        first.insert(0, server.stop)  # no new events, then the router drains
        db_name = f"faults_{uuid.uuid4().hex[:8]}"
        env = environment(
            MONGODB_URI=uri,
            DB_NAME=db_name,
            JOB_QUEUE=QUEUE,
            RESULTS_BUCKET=RESULTS_BUCKET,
            LOG_LEVEL="WARNING",
            AWS_ENDPOINT_URL_BATCH=server.endpoint_url,
            RECONCILE_AFTER_SECONDS="0",
            # The local Batch lists a job at once: a lost answer holds the claim 1 s.
            BATCH_LIST_DELAY_SECONDS="1",
        )
        env.__enter__()
        built.append(lambda: env.__exit__(None, None, None))
        wiring.reset()
        built.append(wiring.reset)
        queue_arn = provision.ensure_batch(
            QUEUE, provision.load_definitions("overlord-worker:local"), max_vcpus
        )
        flow = Flow(mongo, MongoClient(uri, tz_aware=True)[db_name], server, router, here)
        flow.deliver = lambda event: recorder(event, LocalLambdaContext())
        flow_holder["flow"] = flow
        router.add_rule(
            load_batch_pattern(queue_arn),
            lambda event, context: flow_holder["flow"].deliver(event),
            name="batch-state-change",
        )
        built.append(flow.db.client.close)
        return flow

    yield make
    for cleanup in [*first, *reversed(built)]:
        try:
            cleanup()
        except Exception:  # noqa: S110 - best effort; the next one must still run
            pass
