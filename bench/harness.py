"""What the benchmarks share: one `overlord dev`, clients on its servers, a held queue,
preloaded jobs, the handlers invoked in this process, and MongoDB command times.

Everything runs against the servers of one real `overlord dev` (FerretDB, moto, the
local Batch), started as a person starts it, so the side-by-side figures of a run share
the machine's state.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.request import validate_job_request
from overlord.domain.status import rank
from overlord_local.apigateway.payload import http_api_event, http_response
from overlord_local.devstack.running import RunningDev, start_dev
from overlord_local.lambdas import invoke_in_process, load_handler
from overlord_local.localbatch.events import state_change_event

SUBMITTER = "overlord_submitter.handler.lambda_handler"
RECORDER = "overlord_recorder.handler.lambda_handler"
HELD_QUEUE = "bench-held"
# The bench measures the stack, not the pace the submitter keeps to stay under AWS's
# SubmitJob limit (SUBMIT_RATE_PER_SECOND, 50/s by default): lift it for dev.
DEV_ENV = {"SUBMIT_RATE_PER_SECOND": "100000"}


# ------------------------------------------------------------------ command times
@dataclass
class Command:
    name: str  # e.g. "update jobs"
    ms: float


@dataclass
class CommandTimes(monitoring.CommandListener):
    """MongoDB commands of every client of this process (registered before any is made)."""

    commands: list[Command] = field(default_factory=list)
    _started: dict[int, str] = field(default_factory=dict)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        label = event.command_name
        if isinstance(collection, str):
            label += f" {collection}"
        self._started[event.request_id] = label

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._end(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._end(event.request_id, event.duration_micros)

    def _end(self, request_id: int, micros: int) -> None:
        label = self._started.pop(request_id, None)
        if label is not None:
            self.commands.append(Command(label, micros / 1000))

    @contextmanager
    def capture(self) -> Iterator[list[Command]]:
        """The commands issued inside the block."""
        captured: list[Command] = []
        start = len(self.commands)
        try:
            yield captured
        finally:
            captured.extend(self.commands[start:])


COMMAND_TIMES = CommandTimes()
monitoring.register(COMMAND_TIMES)


def quiet_handler_logs() -> None:
    """The handlers' log lines still get written (a cost they have on Lambda too), but to
    /dev/null rather than over the report: Powertools binds sys.stdout when the handler
    module is imported, so this goes before. Reports print to sys.__stdout__."""
    if sys.stdout is sys.__stdout__:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


# ----------------------------------------------------------------------- timing
def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------ stack
@dataclass
class Stack:
    dev: RunningDev
    env: dict[str, str]
    batch: Any
    mongo: MongoClient[dict[str, Any]]
    dev_compute_environment: str
    saved_environment: dict[str, str] | None = None  # before use_handlers_here

    @property
    def db(self) -> Database[dict[str, Any]]:
        return self.mongo[self.env["DB_NAME"]]

    def wait_ended(self, job_ids: list[str], timeout: float = 120) -> None:
        """Until the recorder has these jobs ended (SUCCEEDED, FAILED) in MongoDB."""
        jobs = self.db[schema.JOBS]
        deadline = time.monotonic() + timeout
        ended = {"SUCCEEDED", "FAILED"}
        for first in range(0, len(job_ids), 100):
            chunk = job_ids[first : first + 100]
            while jobs.count_documents(
                {"_id": {"$in": chunk}, "status": {"$in": sorted(ended)}}
            ) < len(chunk):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jobs not ended after {timeout:.0f} s")
                time.sleep(0.2)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the dev process and by its FerretDB (Linux /proc; empty
        elsewhere): what bounds a row that saturates the stack."""
        found: dict[str, float] = {}
        dev_pid = self.dev.proc.pid
        for pid, parent, name, seconds in _processes():
            if pid == dev_pid:
                found["dev process"] = seconds
            elif parent == dev_pid and name == "ferretdb":
                found["FerretDB"] = seconds
        return found

    def stop(self) -> None:
        if self.saved_environment is not None:
            # A stack started after this one must not inherit its endpoints.
            from overlord.runtime import wiring

            os.environ.clear()
            os.environ.update(self.saved_environment)
            wiring.reset()
        self.mongo.close()
        self.dev.stop()

    # ---------------------------------------------------------- handlers here
    def use_handlers_here(self, job_queue: str = HELD_QUEUE) -> None:
        """Point this process's handlers at the stack's servers, submitting to `job_queue`."""
        from overlord.runtime import wiring

        if self.saved_environment is None:
            self.saved_environment = dict(os.environ)
        os.environ.update({**self.env, **DEV_ENV, "JOB_QUEUE": job_queue})
        os.environ.pop("OVERLORD_API_URL", None)
        wiring.reset()
        quiet_handler_logs()

    def post_job(self, body: dict[str, Any]) -> tuple[int, Any]:
        """POST /jobs through the submitter handler in this process (the gateway's event)."""
        event = http_api_event(
            "POST",
            "/jobs",
            body=json.dumps(body),
            headers={"content-type": "application/json"},
            authorizer={"iam": {"accessKey": "bench", "userArn": None, "userId": "bench"}},
        )
        response = http_response(invoke_in_process(load_handler(SUBMITTER), event))
        return response.status, json.loads(response.body or b"null")

    def record(self, event: dict[str, Any]) -> Any:
        return invoke_in_process(load_handler(RECORDER), event)

    def events_for(self, batch_job_ids: list[str], status: str) -> list[dict[str, Any]]:
        """Batch Job State Change events as the local Batch emits them, at `status`."""
        events = []
        for start in range(0, len(batch_job_ids), 100):
            for detail in self.batch.describe_jobs(jobs=batch_job_ids[start : start + 100])["jobs"]:
                detail = {**detail, "status": status}
                region = self.env.get("AWS_REGION", "us-east-1")
                events.append(state_change_event(detail, region, "123456789012"))
        return events

    # ---------------------------------------------------------- compute capacity
    def hold_dev_queue(self, hold: bool = True) -> None:
        """DISABLED: the dev queue's jobs wait RUNNABLE, as on AWS (no worker runs)."""
        self.batch.update_compute_environment(
            computeEnvironment=self.dev_compute_environment,
            state="DISABLED" if hold else "ENABLED",
        )

    def cancel_waiting(self) -> int:
        """Cancel every job still waiting in the dev queue (so that enabling it again
        does not start them all)."""
        cancelled = 0
        for status in ("SUBMITTED", "PENDING", "RUNNABLE"):
            pages = self.batch.get_paginator("list_jobs").paginate(
                jobQueue=self.env["JOB_QUEUE"], jobStatus=status
            )
            for page in pages:
                for job in page["jobSummaryList"]:
                    self.batch.cancel_job(jobId=job["jobId"], reason="bench: done")
                    cancelled += 1
        return cancelled


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """(pid, parent pid, name, CPU seconds) of every process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (name) state ppid ... utime stime ...": the name may hold spaces
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        yield int(entry.name), int(fields[1]), name, (int(fields[11]) + int(fields[12])) / ticks


def open_stack(state_dir: Path, *, ferretdb_bin: str | None = None, timeout: float = 120) -> Stack:
    """`overlord dev` (events alone carry jobs home: reconcile off), a held queue beside its
    own, and clients on its servers."""
    env = dict(DEV_ENV)
    if ferretdb_bin:
        env["FERRETDB_BIN"] = ferretdb_bin
    dev = start_dev(state_dir, "--reconcile-every", "0", env=env, timeout=timeout)
    try:
        dev_env = dev.env
        aws = {
            "region_name": dev_env.get("AWS_REGION", "us-east-1"),
            "aws_access_key_id": dev_env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": dev_env["AWS_SECRET_ACCESS_KEY"],
        }
        batch = boto3.client("batch", endpoint_url=dev_env["AWS_ENDPOINT_URL_BATCH"], **aws)
        [queue] = batch.describe_job_queues(jobQueues=[dev_env["JOB_QUEUE"]])["jobQueues"]
        dev_ce = queue["computeEnvironmentOrder"][0]["computeEnvironment"]
        # A second queue whose compute environment is DISABLED: jobs submitted here stay
        # RUNNABLE, and its events go to no recorder (the dev stack's rule is for its own
        # queue), so measurements made here are not disturbed by either.
        batch.create_compute_environment(
            computeEnvironmentName=HELD_QUEUE,
            type="UNMANAGED",
            state="DISABLED",
            unmanagedvCpus=4,
        )
        batch.create_job_queue(
            jobQueueName=HELD_QUEUE,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": HELD_QUEUE}],
        )
        mongo: MongoClient[dict[str, Any]] = MongoClient(dev_env["MONGODB_URI"], tz_aware=True)
    except BaseException:
        dev.stop()
        raise
    return Stack(dev, dev_env, batch, mongo, dev_ce)


# ---------------------------------------------------------------------- preload
def preload(db: Database[dict[str, Any]], jobs: int, chunk: int = 500) -> float:
    """`jobs` finished jobs, each with its run, as the flow leaves them; returns seconds.

    Log lines are not preloaded: no hot-path filter reads `logs`, and its inserts cost
    O(log n) (a unique index).
    """
    started = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    now = utcnow()
    done = "SUCCEEDED"
    for first in range(0, jobs, chunk):
        job_docs, run_docs = [], []
        for i in range(first, min(jobs, first + chunk)):
            request = validate_job_request(
                {"task": "echo", "parameters": {"message": f"preload-{tag}-{i}"}}
            )
            job = schema.new_job(request, now - timedelta(seconds=jobs - i))
            batch_job_id = str(uuid.uuid4())
            run = schema.new_run(
                batch_job_id=batch_job_id, job_id=job["_id"], run_number=1, at=job["created_at"]
            )
            history = {s: job["created_at"] for s in ("SUBMITTED", "RUNNABLE", "RUNNING", done)}
            run.update(
                status=done,
                status_rank=rank(done),
                status_history=history,
                attempts=[
                    {
                        "attempt": 1,
                        "started_at": now,
                        "stopped_at": now,
                        "exit_code": 0,
                        "reason": "Essential container in task exited",
                        "log_stream": f"overlord-echo/default/{batch_job_id}",
                    }
                ],
                logs_copied=True,
                logs_settled=True,
            )
            job.update(
                status=done,
                run_count=1,
                latest_run=schema.latest_run(batch_job_id, 1, done),
                attempts=1,
            )
            job_docs.append(job)
            run_docs.append(run)
        db.jobs.insert_many(job_docs, ordered=False)
        db.runs.insert_many(run_docs, ordered=False)
    return time.perf_counter() - started


def echo_body(tag: str = "bench") -> dict[str, Any]:
    return {"task": "echo", "parameters": {"message": f"{tag}-{uuid.uuid4().hex}"}}
