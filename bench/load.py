"""Load on the local stack: many concurrent clients, many duplicates, nothing lost or doubled.

Starts `overlord dev` (its own state directory, FerretDB unless MONGODB_URI is set,
reconcile off so that events alone must carry every job home), then N POST /jobs of
`echo` from C concurrent HTTP clients, a share of them repeating another submission's
input. Afterwards it checks, against MongoDB and the local Batch's own API:

* no 5xx answer; every first submission of an input 202, every repeat 200 or 202;
* `jobs` documents = Batch jobs = distinct inputs (ListJobs by name: one each);
* every job terminal, with its run's status, reason and exit codes equal to
  DescribeJobs', and as many `log` lines in `logs` as its CloudWatch stream holds.

    .venv/bin/python bench/load.py [--submissions 1000] [--clients 16] [--duplicates 0.3]

Prints the counts and the throughput; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from pymongo import MongoClient

from overlord_local.client import static_credentials
from overlord_local.devstack.running import http, start_dev

TERMINAL = {"SUCCEEDED", "FAILED"}
LOG_GROUP = "/aws/batch/job"


@dataclass
class LoadReport:
    submissions: int
    clients: int
    distinct: int
    answers: Counter[int] = field(default_factory=Counter)
    submit_seconds: float = 0.0
    drain_seconds: float = 0.0
    jobs: int = 0
    batch_jobs: int = 0
    runs: int = 0
    terminal: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.answers.items() if status >= 500)

    def lines(self) -> list[str]:
        return [
            f"submissions {self.submissions} from {self.clients} clients, "
            f"{self.distinct} distinct inputs",
            f"answers {dict(sorted(self.answers.items()))}; 5xx: {self.server_errors}",
            f"submitted in {self.submit_seconds:.1f} s: "
            f"{self.submissions / self.submit_seconds:.1f} requests/s",
            f"{self.terminal} of {self.distinct} jobs terminal after {self.drain_seconds:.1f} s: "
            f"{self.terminal / self.drain_seconds:.1f} jobs/s end to end",
            f"jobs {self.jobs}, Batch jobs {self.batch_jobs}, runs {self.runs}, "
            f"terminal {self.terminal}",
            f"problems: {len(self.problems)}",
            *(f"  {p}" for p in self.problems[:20]),
        ]


def read_env(env_file: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return dict(pairs)


def workload(submissions: int, duplicates: float, seed: int) -> list[dict[str, Any]]:
    """`submissions` request bodies, `duplicates` of them repeating an earlier input."""
    chance = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    distinct = max(1, round(submissions * (1 - duplicates)))
    inputs = [
        {"task": "echo", "parameters": {"message": f"load-{tag}-{i}"}} for i in range(distinct)
    ]
    bodies = inputs + [chance.choice(inputs) for _ in range(submissions - distinct)]
    chance.shuffle(bodies)
    return bodies


def run_load(
    url: str,
    env: dict[str, str],
    *,
    submissions: int,
    clients: int,
    duplicates: float = 0.3,
    seed: int = 1,
    drain_timeout: float = 900,
    progress_every: float = 0,
) -> LoadReport:
    """`progress_every` > 0: print the jobs' statuses to stderr that often while waiting."""
    bodies = workload(submissions, duplicates, seed)
    distinct = len({json.dumps(b, sort_keys=True) for b in bodies})
    report = LoadReport(submissions, clients, distinct)
    # Signed like any client: the stack's own credentials, from its dev.env.
    credentials = static_credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        try:
            return http("POST", f"{url}/jobs", body, timeout=60, credentials=credentials)
        except OSError as exc:
            return 599, {"message": f"connection: {exc}"}

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(post, bodies))
    report.submit_seconds = time.perf_counter() - started
    report.answers = Counter(status for status, _ in answers)
    for status, body in answers:
        if status not in (200, 202):
            report.problems.append(f"POST answered {status}: {body}")
    job_ids = {body["job_id"] for status, body in answers if status in (200, 202)}

    mongo: MongoClient = MongoClient(env["MONGODB_URI"], tz_aware=True)
    db = mongo[env["DB_NAME"]]
    deadline = time.monotonic() + drain_timeout
    shown = time.monotonic()
    print(
        f"submitted in {report.submit_seconds:.1f} s; answers "
        f"{dict(sorted(report.answers.items()))}, 5xx: {report.server_errors}; "
        "waiting for the jobs",
        file=sys.stderr,
    )
    while db.jobs.count_documents({"status": {"$in": sorted(TERMINAL)}}) < len(job_ids):
        if time.monotonic() > deadline:
            report.problems.append("not every job ended in time")
            break
        if progress_every and time.monotonic() - shown >= progress_every:
            shown = time.monotonic()
            statuses = Counter(j["status"] for j in db.jobs.find({}, {"status": 1}))
            elapsed = time.perf_counter() - started
            print(f"{elapsed:6.0f} s  {dict(sorted(statuses.items()))}", file=sys.stderr)
        time.sleep(0.5)
    report.drain_seconds = time.perf_counter() - started
    try:
        _compare(report, db, env, job_ids)
    finally:
        mongo.close()
    return report


def _compare(report: LoadReport, db: Any, env: dict[str, str], job_ids: set[str]) -> None:
    aws = {
        "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "aws_access_key_id": env.get("AWS_ACCESS_KEY_ID", "overlord-local"),
        "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY", "overlord-local"),
    }
    batch = boto3.client("batch", endpoint_url=env["AWS_ENDPOINT_URL_BATCH"], **aws)
    logs = boto3.client("logs", endpoint_url=env["AWS_ENDPOINT_URL"], **aws)
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=env["JOB_QUEUE"], filters=[{"name": "JOB_NAME", "values": ["job-*"]}]
    )
    summaries = [s for page in pages for s in page["jobSummaryList"]]
    by_name = Counter(s["jobName"] for s in summaries)
    ids = [s["jobId"] for s in summaries]
    described = {
        j["jobId"]: j
        for i in range(0, len(ids), 100)
        for j in batch.describe_jobs(jobs=ids[i : i + 100])["jobs"]
    }
    jobs = {j["_id"]: j for j in db.jobs.find()}
    runs = {r["_id"]: r for r in db.runs.find()}
    # One pass: a count query per run would read the whole collection each time on FerretDB.
    copied_lines = Counter(
        x["batch_job_id"] for x in db.logs.find({"kind": "log"}, {"batch_job_id": 1})
    )
    report.jobs, report.batch_jobs, report.runs = len(jobs), len(summaries), len(runs)
    report.terminal = sum(j["status"] in TERMINAL for j in jobs.values())

    def problem(text: str) -> None:
        report.problems.append(text)

    if not (len(jobs) == len(summaries) == report.distinct == len(job_ids)):
        problem(
            f"jobs {len(jobs)}, Batch jobs {len(summaries)}, distinct inputs "
            f"{report.distinct}, job IDs answered {len(job_ids)}"
        )
    problems = [f"{name}: {n} Batch jobs" for name, n in by_name.items() if n != 1]
    for text in problems:
        problem(text)
    for batch_job_id, truth in described.items():
        run = runs.get(batch_job_id)
        job = jobs.get(truth["jobName"])
        if run is None or job is None:
            problem(f"{truth['jobName']} / {batch_job_id}: not recorded")
            continue
        mine = (job["status"], run["status"], run["status_reason"], run["run"])
        theirs = (truth["status"], truth["status"], truth.get("statusReason"), 1)
        if mine != theirs:
            problem(f"{truth['jobName']}: recorded {mine}, Batch {theirs}")
        codes = [a["exit_code"] for a in run["attempts"]]
        if codes != [a["container"].get("exitCode") for a in truth["attempts"]]:
            problem(f"{truth['jobName']}: exit codes {codes}")
        for attempt in truth["attempts"]:
            stream = attempt["container"]["logStreamName"]
            shipped = len(
                logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream)["events"]
            )
            copied = copied_lines[batch_job_id]
            if shipped != copied or not shipped:
                problem(f"{truth['jobName']}: {copied} log lines copied, stream has {shipped}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duplicates", type=float, default=0.3, help="share of repeats")
    parser.add_argument("--max-vcpus", type=int, default=1, help="0.25 per echo job")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--drain-timeout", type=float, default=900, help="seconds to wait for the jobs to end"
    )
    parser.add_argument(
        "--progress", type=float, default=30, help="print statuses every N s (0: never)"
    )
    args = parser.parse_args()
    # A run stopped from outside (timeout(1)) still stops its `overlord dev`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="overlord-load-") as tmp:
        dev = start_dev(Path(tmp), "--reconcile-every", "0", "--max-vcpus", str(args.max_vcpus))
        try:
            report = run_load(
                dev.url,
                read_env(Path(tmp) / "dev.env"),
                submissions=args.submissions,
                clients=args.clients,
                duplicates=args.duplicates,
                seed=args.seed,
                drain_timeout=args.drain_timeout,
                progress_every=args.progress,
            )
        finally:
            dev.stop()
    print("\n".join(report.lines()))
    return 1 if report.problems or report.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
