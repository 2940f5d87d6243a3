"""Array jobs on the local Batch's process executor: acceptance time and per-child cost.

Starts moto server (S3 and CloudWatch Logs; its own process, so that its CPU is not
counted as the local Batch's) and a local Batch in this process as `make dev` does
(process executor, default step timings, the catalogue's job definitions, a compute
environment of --max-vcpus), then:

1. SubmitJob of a 10,000-child array on a disabled queue: how long SubmitJob takes;
2. one array of --size children of --task (through `python -m overlord_worker`, as on
   `make dev`) or of --command, waiting for the parent to end (after a 2-child warm-up).

Printed for 2: wall time (SubmitJob → the parent's final event), wall time per child,
the slots (children that fit at once: maxvCpus / the task's vCPUs), the children's own
run time (attempt startedAt → stoppedAt, i.e. the process as Batch sees it), and per
child the slot time the local Batch adds around it (wall × slots / N − run time: the
STARTING step, spawning, shipping logs, scheduling) and the CPU it spends (this
process's CPU time / N).

    .venv/bin/python bench/local_array.py [--size 1000] [--task echo | --command true]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import boto3

from overlord_local.localbatch import LocalBatchServer, ProcessExecutor
from overlord_local.provision import load_definitions

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
REGION = "us-east-1"
BUCKET = "bench-results"
QUEUE = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


class ParentEnd:
    """The event sink: notes when each array parent's final event is emitted."""

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        self.count += 1
        detail = event["detail"]
        if "size" in detail.get("arrayProperties", {}) and detail["status"] in (
            "SUCCEEDED",
            "FAILED",
        ):
            with self._cond:
                self.ended[detail["jobId"]] = time.perf_counter()
                self._cond.notify_all()

    def wait(self, job_id: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: job_id in self.ended, timeout):
                raise TimeoutError(f"{job_id} did not end within {timeout} s")
            return self.ended[job_id]


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="children of the measured array")
    parser.add_argument("--task", default="echo", help="a catalogue task run by the worker")
    parser.add_argument("--command", default=None, help="run this instead of the worker")
    parser.add_argument("--max-vcpus", type=int, default=4, help="as `make dev`'s default")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()

    moto, moto_url = start_moto()
    os.environ.update(
        {
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_url,
        }
    )
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    sink = ParentEnd()
    server = LocalBatchServer(
        ProcessExecutor(),
        region=REGION,
        on_event=sink,
        extra_environment={"RESULTS_BUCKET": BUCKET, "LOG_LEVEL": "WARNING"},
    ).start()
    try:
        batch: Any = boto3.client("batch", endpoint_url=server.endpoint_url)
        batch.create_compute_environment(
            computeEnvironmentName=f"{QUEUE}-ce",
            type="MANAGED",
            computeResources={"type": "FARGATE", "maxvCpus": args.max_vcpus, "subnets": ["s"]},
        )
        batch.create_job_queue(
            jobQueueName=QUEUE,
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": f"{QUEUE}-ce"}],
        )
        definitions = load_definitions("overlord-worker:local")
        for definition in definitions.values():
            batch.register_job_definition(**definition)
        name = f"overlord-{args.task}"
        vcpus = float(
            next(
                r["value"]
                for r in definitions[name]["containerProperties"]["resourceRequirements"]
                if r["type"] == "VCPU"
            )
        )
        accept(batch, name)
        measure(batch, sink, name, vcpus, args)
    finally:
        server.stop()
        moto.terminate()
        moto.wait(10)
    return 0


def accept(batch: Any, definition: str) -> None:
    """SubmitJob of 10,000 children, with nothing allowed to run."""
    held = f"{QUEUE}-held"
    batch.create_job_queue(
        jobQueueName=held,
        priority=1,
        state="DISABLED",
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": f"{QUEUE}-ce"}],
    )
    started = time.perf_counter()
    job_id = batch.submit_job(
        jobName="accept", jobQueue=held, jobDefinition=definition, arrayProperties={"size": 10_000}
    )["jobId"]
    took = time.perf_counter() - started
    print(f"SubmitJob of a 10,000-child array: {took * 1000:.0f} ms (HTTP, boto3)")
    batch.terminate_job(jobId=job_id, reason="only timing SubmitJob")


def measure(batch: Any, sink: ParentEnd, definition: str, vcpus: float, args: Any) -> None:
    size = args.size
    overrides: dict[str, Any] = {
        "environment": [
            {"name": "OVERLORD_JOB_ID", "value": f"job-bench-{uuid.uuid4().hex[:12]}"},
            {"name": "OVERLORD_TASK", "value": args.task},
            {"name": "OVERLORD_PARAMETERS", "value": json.dumps({"message": "bench"})},
        ]
    }
    if args.command:
        overrides["command"] = shlex.split(args.command)
    # Warm up (the CloudWatch Logs client, the OS's file cache): not part of the figures.
    warm = batch.submit_job(
        jobName="warm",
        jobQueue=QUEUE,
        jobDefinition=definition,
        arrayProperties={"size": 2},
        containerOverrides=overrides,
    )["jobId"]
    sink.wait(warm, args.timeout)
    cpu_before = cpu_seconds(resource.RUSAGE_SELF)
    children_before = cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    parent_id = batch.submit_job(
        jobName="bench",
        jobQueue=QUEUE,
        jobDefinition=definition,
        arrayProperties={"size": size},
        containerOverrides=overrides,
    )["jobId"]
    ended = sink.wait(parent_id, args.timeout)
    wall = ended - started
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu_before
    children_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - children_before

    parent = batch.describe_jobs(jobs=[parent_id])["jobs"][0]
    runs: list[float] = []
    ids = [f"{parent_id}:{i}" for i in range(size)]
    for start in range(0, size, 100):
        for child in batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]:
            for attempt in child["attempts"]:
                runs.append((attempt["stoppedAt"] - attempt["startedAt"]) / 1000)
    slots = min(int(args.max_vcpus // vcpus), size)
    run = statistics.mean(runs)
    what = args.command or f"{args.task} (python -m overlord_worker)"
    print(f"array of {size} × {what}, maxvCpus {args.max_vcpus}, {vcpus:g} vCPU each")
    print(f"  parent {parent['status']}: {parent['arrayProperties']['statusSummary']}")
    print(f"  wall time                    {wall:8.1f} s")
    print(f"  wall time per child          {wall / size * 1000:8.1f} ms")
    print(f"  slots (children at once)     {slots:8d}")
    print(f"  child run time (mean)        {run * 1000:8.1f} ms  (the process, as Batch sees it)")
    print(f"  slot time per child          {wall * slots / size * 1000:8.1f} ms")
    print(f"  added by the local Batch     {(wall * slots / size - run) * 1000:8.1f} ms/child")
    print(f"  local Batch CPU per child    {cpu / size * 1000:8.1f} ms  (this process)")
    print(f"  job processes' CPU per child {children_cpu / size * 1000:8.1f} ms")
    print(f"  events emitted               {sink.count:8d}")


if __name__ == "__main__":
    sys.exit(main())
