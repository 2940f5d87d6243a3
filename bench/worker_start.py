"""What one worker process costs: N runs of ``python -m overlord_worker`` with echo.

Each run is what the local Batch starts for an array child (and AWS Batch for any
attempt): a fresh interpreter with the job's variables, writing its result to S3 on a
moto server (its own process, so that its CPU is not counted). Printed: the median and
the minimum of the wall time and of the CPU time (user + system) of one run, end to end;
and of an interpreter that only starts (``python -c pass``), the floor. With
``--compare TREE`` the runs alternate with runs of another tree's code (its ``src`` and
``batch-worker`` first on PYTHONPATH), e.g. the code before a change, so that both see
the same load of a shared machine:

    git archive arrays src batch-worker contracts | tar -x -C /tmp/before
    .venv/bin/python bench/worker_start.py [--runs 20] [--array] [--compare /tmp/before]
        [--forked]

``--forked`` also runs each through the fork server with the worker's preload, as
`make dev` runs an array child (CPU: what the server reaped, from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3

from overlord_local.devstack.stack import WORKER_PRELOAD
from overlord_local.forkserver import ForkServer

BUCKET = "bench-results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command` (which must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{command} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def reaped_cpu(pid: int) -> float:
    """CPU seconds of the children ``pid`` has reaped (Linux /proc: cutime + cstime)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def measure_forked(server: ForkServer, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``overlord_worker`` forked by the fork server, as the
    local Batch of `make dev` runs an array child."""
    assert server._proc is not None
    before = reaped_cpu(server._proc.pid)
    started = time.perf_counter()
    proc = server.spawn("overlord_worker", [], env, os.getcwd())
    with os.fdopen(proc.output, "rb") as out:
        output = out.read()
    code = proc.wait()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"forked overlord_worker exited {code}: {output.decode()}")
    time.sleep(0.05)  # the server reaps on SIGCHLD: let it, so its counters include this one
    return wall, reaped_cpu(server._proc.pid) - before


def report(name: str, runs: list[tuple[float, float]]) -> None:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    print(
        f"{name:<24} wall median {statistics.median(walls) * 1000:6.0f} ms "
        f"(min {min(walls) * 1000:4.0f})   CPU median {statistics.median(cpus) * 1000:6.0f} ms "
        f"(min {min(cpus) * 1000:4.0f})   runs {len(runs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--array", action="store_true", help="run as an array child (items + index)"
    )
    parser.add_argument("--compare", metavar="TREE", help="also run this tree's worker")
    parser.add_argument(
        "--forked", action="store_true", help="also fork it from a warm interpreter (make dev)"
    )
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        boto3.client("s3", region_name="us-east-1", **_client_args(aws)).create_bucket(
            Bucket=BUCKET
        )
        base = {**os.environ, **aws, "RESULTS_BUCKET": BUCKET, "PYTHONUNBUFFERED": "1"}
        worker = [sys.executable, "-m", "overlord_worker"]

        def job_env(i: int) -> dict[str, str]:
            env = {
                **base,
                "OVERLORD_JOB_ID": f"job-{uuid.uuid4().hex}",
                "OVERLORD_TASK": "echo",
                "AWS_BATCH_JOB_ID": str(uuid.uuid4()),
                "AWS_BATCH_JOB_ATTEMPT": "1",
            }
            if args.array:
                env["OVERLORD_ITEMS"] = json.dumps([{"message": f"item {n}"} for n in range(10)])
                env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(i % 10)
            else:
                env["OVERLORD_PARAMETERS"] = json.dumps({"message": "hello"})
            return env

        measure(worker, job_env(0))  # warm the file cache and the bytecode
        python = [measure([sys.executable, "-c", "pass"], base) for _ in range(args.runs)]
        server = ForkServer(WORKER_PRELOAD) if args.forked else None
        if server is not None:
            server._ensure()
            measure_forked(server, job_env(0))  # warm
        runs, others, forked = [], [], []
        for i in range(args.runs):
            runs.append(measure(worker, job_env(i)))
            if args.compare:
                env = job_env(i)
                tree = os.path.abspath(args.compare)
                code = os.pathsep.join([f"{tree}/src", f"{tree}/batch-worker"])
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
                others.append(measure(worker, env))
            if server is not None:
                forked.append(measure_forked(server, job_env(i)))
        report("python -c pass", python)
        report("python -m overlord_worker", runs)
        if args.compare:
            report(f"  of {args.compare}", others)
        if server is not None:
            report("  forked (fork server)", forked)
            server.stop()
    finally:
        moto.terminate()
        moto.wait()


def _client_args(aws: dict[str, str]) -> dict[str, str]:
    return {
        "endpoint_url": aws["AWS_ENDPOINT_URL"],
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
    }


if __name__ == "__main__":
    main()
