"""End-to-end latency of the local stack: POST /jobs → SUCCEEDED recorded, for `echo`.

Starts `overlord dev` (as `make dev` does, in its own state directory), submits N echo
jobs one after another and polls GET /jobs/{id} until the job is SUCCEEDED with its
result. Beside each latency it prints the worker's own run time (the attempt's
startedAt → stoppedAt, i.e. the worker process as Batch sees it), so the difference
is what Overlord adds: API, MongoDB, Batch's state walk, events and the recorder.

    .venv/bin/python bench/e2e_latency.py [--runs 20] [--rie]

Target (issue 3): median(latency) - median(worker) ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from overlord_local.client import ApiClient
from overlord_local.devstack.running import start_dev

TARGET_OVERHEAD_S = 1.5


def _seconds(start: str, stop: str) -> float:
    return (datetime.fromisoformat(stop) - datetime.fromisoformat(start)).total_seconds()


def one_job(api: ApiClient) -> tuple[float, float]:
    """Signed like any client (SigV4 against the stack's own credentials)."""
    body = {"task": "echo", "parameters": {"message": "bench"}, "key": uuid.uuid4().hex}
    started = time.perf_counter()
    answer = api.post("/jobs", body)
    status, created = answer.status, answer.body
    if status != 202:
        raise RuntimeError(f"POST /jobs answered {status}: {created}")
    while True:
        job = api.get(f"/jobs/{created['job_id']}").body
        if job["status"] in {"SUCCEEDED", "FAILED"}:
            break
        time.sleep(0.01)
    latency = time.perf_counter() - started
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"{created['job_id']} {job['status']}")
    attempt = job["latest_run"]["attempts"][-1]
    return latency, _seconds(attempt["started_at"], attempt["stopped_at"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rie", action="store_true", help="Lambdas under aws-lambda-rie")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="overlord-bench-") as tmp:
        dev = start_dev(Path(tmp), "--reconcile-every", "0", *(["--rie"] if args.rie else []))
        try:
            api = dev.client()
            for _ in range(args.warmup):
                one_job(api)
            samples = [one_job(api) for _ in range(args.runs)]
        finally:
            dev.stop()

    latencies = [s[0] for s in samples]
    workers = [s[1] for s in samples]
    overheads = [lat - work for lat, work in samples]
    mode = "rie" if args.rie else "in-process"
    print(
        f"echo end-to-end on the local stack ({mode}), {args.runs} runs after {args.warmup} warm-up"
    )
    print(f"{'':24}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}")
    for name, values in (
        ("POST → SUCCEEDED (s)", latencies),
        ("worker run time (s)", workers),
        ("difference (s)", overheads),
    ):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(
            f"{name:24}{statistics.median(values):9.3f}{p90:9.3f}"
            f"{min(values):9.3f}{max(values):9.3f}"
        )
    overhead = statistics.median(latencies) - statistics.median(workers)
    verdict = "within" if overhead <= TARGET_OVERHEAD_S else "OVER"
    print(
        f"median latency - median worker time = {overhead:.3f} s "
        f"({verdict} the {TARGET_OVERHEAD_S} s target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
