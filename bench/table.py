"""`make bench`: Overlord's overhead as ratios, each measured side by side on one `overlord dev`.

Every row compares what Overlord does with the bare minimum doing the same job on the
same servers in the same run (absolute times are context only), first with the database
as the stack starts it, then with `--preload` finished jobs (and their runs) added:

    submit path   POST /jobs through the submitter handler  vs  one SubmitJob + one insert_one
    recorder      events/s through the recorder handler     vs  a bare update_one loop
    batches       recorder events/s in SQS batches of 10    vs  one event per invocation
    commands      MongoDB commands per echo job (its POST and every event, batches of 10)
    cold start    a fresh process importing and initialising a handler
                                                             vs  one importing boto3 + pymongo
                                                                 and creating the same clients
    e2e overhead  POST → SUCCEEDED recorded, minus the worker's own run time (bench/e2e_latency.py)
    throughput    POST /jobs through the gateway from 16 clients, the compute environment
                  DISABLED so that no worker competes for the CPU (jobs wait RUNNABLE, as on AWS)
    bulk          one request of N items vs N single requests, both through the submitter
                  handler (the singles' time extrapolated from a sample); "n/a" while the
                  API refuses `items`

    .venv/bin/python -m bench.table [--quick] [--preload 10000] [--only TEXT]

`--quick` runs every row small, once, after a small preload (CI runs it so that this
code cannot rot); its figures are not worth reading. Exit status 1 when a row could not
be measured (not for a missed target: docs/performance.md says what bounds those).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from bench.e2e_latency import TARGET_OVERHEAD_S, one_job
from bench.harness import (
    COMMAND_TIMES,
    HELD_QUEUE,
    Stack,
    echo_body,
    median,
    open_stack,
    preload,
    timed,
)
from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.request import validate_job_request
from overlord.domain.status import rank
from overlord_contracts.bucket_layout import result_key


@dataclass(frozen=True)
class Sizes:
    submit_pairs: int
    recorder_jobs: int
    cold_starts: int
    e2e_runs: int
    throughput_posts: int
    clients: int
    bulk_items: int
    bulk_singles: int
    preload: int
    empty_pass: bool = True  # False: only the pass after the preload


FULL = Sizes(
    submit_pairs=40,
    recorder_jobs=40,
    cold_starts=4,
    e2e_runs=5,
    throughput_posts=200,
    clients=16,
    bulk_items=10_000,
    bulk_singles=100,
    preload=10_000,
)
QUICK = Sizes(
    submit_pairs=5,
    recorder_jobs=5,
    cold_starts=1,
    e2e_runs=1,
    throughput_posts=32,
    clients=16,
    bulk_items=100,
    bulk_singles=32,
    preload=200,
    empty_pass=False,  # one pass (preload included) keeps CI's stage near a minute
)


@dataclass(frozen=True)
class Result:
    figure: str  # the ratio (or the absolute figure a row is about), formatted
    met: bool | None  # None: nothing to compare (n/a, error)
    context: str  # absolute times, counts


@dataclass(frozen=True)
class Row:
    name: str
    target: str
    measure: Callable[[Stack, Sizes], Result]


def at_most(value: float, limit: float, unit: str = "×") -> tuple[str, bool]:
    return f"{value:.2f}{unit}", value <= limit


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ------------------------------------------------------------------------- rows
def submit_path(stack: Stack, sizes: Sizes) -> Result:
    stack.use_handlers_here(HELD_QUEUE)
    jobs = stack.db[schema.JOBS]

    def handler() -> None:
        status, body = stack.post_job(echo_body())
        if status != 202:
            raise RuntimeError(f"POST /jobs answered {status}: {body}")

    def bare() -> None:
        # What submitting cannot do without: Batch accepts the job, MongoDB keeps a record.
        body = echo_body()
        job = schema.new_job(validate_job_request(body), utcnow())
        parameters = json.dumps(body["parameters"])
        stack.batch.submit_job(
            jobName=job["_id"],
            jobQueue=HELD_QUEUE,
            jobDefinition="overlord-echo",
            containerOverrides={
                "environment": [
                    {"name": "OVERLORD_JOB_ID", "value": job["_id"]},
                    {"name": "OVERLORD_TASK", "value": "echo"},
                    {"name": "OVERLORD_PARAMETERS", "value": parameters},
                ]
            },
        )
        jobs.insert_one(dict(job))

    handler(), bare()  # warm: imports, clients, connections
    through, minimum = [], []
    for _ in range(sizes.submit_pairs):  # interleaved: both see the same machine
        through.append(timed(handler))
        minimum.append(timed(bare))
    figure, met = at_most(median(through) / median(minimum), 1.25)
    return Result(
        figure,
        met,
        f"handler {ms(median(through))}, SubmitJob + insert_one {ms(median(minimum))} "
        f"(medians of {sizes.submit_pairs})",
    )


def recorder(stack: Stack, sizes: Sizes) -> Result:
    stack.use_handlers_here(HELD_QUEUE)
    batch_job_ids = []
    for _ in range(sizes.recorder_jobs):
        status, body = stack.post_job(echo_body("recorder"))
        if status != 202:
            raise RuntimeError(f"POST /jobs answered {status}: {body}")
        batch_job_ids.append(body["batch_job_id"])
    runs = stack.db[schema.RUNS]
    now = utcnow()
    bare_ids = [f"bare-{uuid.uuid4()}" for _ in batch_job_ids]
    for batch_job_id in bare_ids:
        run = schema.new_run(batch_job_id=batch_job_id, job_id="bare", run_number=1, at=now)
        runs.insert_one(dict(run))
    stack.record(stack.events_for(batch_job_ids[:1], "PENDING")[0])  # warm
    recorder_s = bare_s = 0.0
    events = 0
    # Every job moves through the states the recorder sees before the worker starts;
    # a terminal event also copies the result and the log lines (S3, CloudWatch Logs).
    for status in ("RUNNABLE", "STARTING", "RUNNING"):
        batch = stack.events_for(batch_job_ids, status)
        recorder_s += timed(lambda batch=batch: [stack.record(e) for e in batch])

        def bare_loop(status: str = status) -> None:
            for batch_job_id in bare_ids:
                runs.update_one(
                    {"_id": batch_job_id, "status_rank": {"$lt": rank(status)}},
                    {"$set": {"status": status, "status_rank": rank(status), "updated_at": now}},
                )

        bare_s += timed(bare_loop)
        events += len(batch)
    through, minimum = events / recorder_s, events / bare_s
    figure, met = at_most(minimum / through, 1.3)
    return Result(
        figure,
        met,
        f"recorder {through:.0f} events/s, update_one loop {minimum:.0f}/s ({events} events)",
    )


HANDLER_INIT = {
    "submitter": (
        "overlord_submitter.handler",
        'aws.submit_client("batch"); aws.client("batch"); aws.client("s3")',
    ),
    "recorder": (
        "overlord_recorder.handler",
        'aws.client("batch"); aws.client("s3"); aws.client("logs")',
    ),
}
BARE_INIT = {
    "submitter": 'boto3.client("batch"); boto3.client("batch"); boto3.client("s3")',
    "recorder": 'boto3.client("batch"); boto3.client("s3"); boto3.client("logs")',
}


_disk_warmed: list[bool] = []


def cold_start(handler_name: str) -> Callable[[Stack, Sizes], Result]:
    module, clients = HANDLER_INIT[handler_name]
    initialise = (
        f"import {module}\n"
        "from overlord.runtime import wiring\n"
        "from overlord.adapters import aws\n"
        "wiring.components()\n"  # settings, catalogue, MongoClient, indexes
        f"{clients}\n"
    )
    bare = (
        "import os, boto3, pymongo\n"
        f"{BARE_INIT[handler_name]}\n"
        'pymongo.MongoClient(os.environ["MONGODB_URI"]).admin.command("ping")\n'
    )

    def measure(stack: Stack, sizes: Sizes) -> Result:
        stack.use_handlers_here(HELD_QUEUE)

        def fresh(code: str) -> Callable[[], None]:
            def run() -> None:
                subprocess.run(
                    [sys.executable, "-c", code],
                    check=True,
                    env=os.environ,
                    stdout=subprocess.DEVNULL,
                )

            return run

        if not _disk_warmed:  # the first start reads the files from disk, for both sides
            fresh(bare)()
            fresh(initialise)()
            _disk_warmed.append(True)
        through, minimum = [], []
        for _ in range(sizes.cold_starts):
            through.append(timed(fresh(initialise)))
            minimum.append(timed(fresh(bare)))
        # The fastest of each: a process start on a busy machine is mostly disturbed
        # upwards, and the least disturbed start is the best estimate of its own cost.
        figure, met = at_most(min(through) / min(minimum), 1.15)
        return Result(
            figure,
            met,
            f"{handler_name} {ms(min(through))}, boto3 + pymongo {ms(min(minimum))} "
            f"(fastest of {sizes.cold_starts})",
        )

    return measure


def e2e_overhead(stack: Stack, sizes: Sizes) -> Result:
    stack.hold_dev_queue(False)
    api = stack.dev.client()
    one_job(api)  # warm
    samples = [one_job(api) for _ in range(sizes.e2e_runs)]
    latency = median([s[0] for s in samples])
    worker = median([s[1] for s in samples])
    figure, met = at_most(latency - worker, TARGET_OVERHEAD_S, " s")
    return Result(
        figure,
        met,
        f"POST → SUCCEEDED {latency:.2f} s, worker {worker:.2f} s (medians of {sizes.e2e_runs})",
    )


def _post_many(stack: Stack, bodies: list[dict[str, Any]], clients: int) -> tuple[float, list[str]]:
    """Seconds to POST every (distinct, so new: 202) body from `clients` threads, and
    the job IDs."""

    def post(body: dict[str, Any]) -> Any:
        return stack.dev.client(timeout=60).post("/jobs", body)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    # A 200 ("already there") for a new body is wrong too: two concurrent invocations of
    # the in-process submitter once answered each other's requests (fixed in 6acccd5).
    wrong = [a for a in answers if a.status != 202]
    if wrong:
        raise RuntimeError(
            f"{len(wrong)} of {len(bodies)} POSTs not 202, e.g. {wrong[0].status}: "
            f"{wrong[0].detail}"
        )
    return elapsed, [a.body["job_id"] for a in answers]


def throughput(stack: Stack, sizes: Sizes) -> Result:
    stack.hold_dev_queue(True)
    try:
        bodies = [echo_body("throughput") for _ in range(sizes.throughput_posts)]
        before, clients_before = stack.cpu_seconds(), time.process_time()
        elapsed, job_ids = _post_many(stack, bodies, sizes.clients)
        after, clients_after = stack.cpu_seconds(), time.process_time()
    finally:
        stack.cancel_waiting()
        stack.hold_dev_queue(False)
    # The rows after this one must not share the machine with the cancels' events.
    stack.wait_ended(job_ids)
    rate = len(bodies) / elapsed
    per_request = {name: (after[name] - before[name]) / len(bodies) for name in after}
    per_request["clients"] = (clients_after - clients_before) / len(bodies)
    cpu = ", ".join(f"{name} {ms(seconds)}" for name, seconds in per_request.items())
    return Result(
        f"{rate:.1f}/s",
        rate >= 50,
        f"{len(bodies)} POSTs from {sizes.clients} clients in {elapsed:.1f} s; "
        f"CPU per request: {cpu}",
    )


def bulk(stack: Stack, sizes: Sizes) -> Result:
    # Through the handler to the held queue, like the submit path: the array's children
    # wait there for good, and their events reach no recorder (cancelling 10,000 held
    # children on the dev queue would have its recorder busy for minutes).
    stack.use_handlers_here(HELD_QUEUE)
    tag = uuid.uuid4().hex[:8]
    status, body = stack.post_job(
        {"task": "echo", "items": [{"message": f"{tag}-a"}, {"message": f"{tag}-b"}]}
    )
    if status == 400:
        detail = str(body.get("detail") if isinstance(body, dict) else body)
        return Result("n/a", None, f"array jobs not available: {detail[:80]}")
    if status != 202:
        raise RuntimeError(f"POST /jobs with items answered {status}: {body}")
    # The singles first: the array's 10,000 waiting children are not theirs to carry.
    singles = min(sizes.bulk_singles, sizes.bulk_items)
    started = time.perf_counter()
    for _ in range(singles):
        status, body = stack.post_job(echo_body("bulk"))
        if status != 202:
            raise RuntimeError(f"POST /jobs answered {status}: {body}")
    all_singles_s = (time.perf_counter() - started) * sizes.bulk_items / singles
    items = [{"message": f"{tag}-{i}"} for i in range(sizes.bulk_items)]
    started = time.perf_counter()
    status, body = stack.post_job({"task": "echo", "items": items})
    array_s = time.perf_counter() - started
    if status != 202:
        raise RuntimeError(f"{len(items)} items answered {status}: {body}")
    ratio = all_singles_s / array_s
    extrapolated = "" if singles == sizes.bulk_items else f"; {singles} timed"
    return Result(
        f"{ratio:.0f}×",
        ratio >= 100,
        f"{sizes.bulk_items:,} items in one request {array_s:.2f} s (1 SubmitJob); "
        f"{sizes.bulk_items:,} single requests ≈ {all_singles_s:.1f} s "
        f"({sizes.bulk_items:,} SubmitJob, one after another{extrapolated})",
    )


# The recorder's event source mapping (terraform/modules/functions, make dev): batch size.
EVENT_BATCH = 10
# The statuses AWS Batch (and the local Batch) send for a job that runs once.
LIFE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED")


def sqs_event(events: list[dict[str, Any]], stack: Stack) -> dict[str, Any]:
    """What the event source mapping passes the recorder for ``events``."""
    region = stack.env.get("AWS_REGION", "us-east-1")
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": json.dumps(e, default=str),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{region}:123456789012:overlord-batch-events",
                "awsRegion": region,
            }
            for e in events
        ]
    }


def _echo_jobs(stack: Stack, n: int) -> list[tuple[str, str]]:
    """(job ID, Batch job ID) of ``n`` echo jobs POSTed on the held queue, each with the
    result object its worker would have written (so that SUCCEEDED copies one)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.env.get("AWS_ENDPOINT_URL_S3") or stack.env["AWS_ENDPOINT_URL"],
        region_name=stack.env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
    )
    jobs = []
    for _ in range(n):
        status, body = stack.post_job(echo_body("batches"))
        if status != 202:
            raise RuntimeError(f"POST /jobs answered {status}: {body}")
        jobs.append((body["job_id"], body["batch_job_id"]))
        s3.put_object(
            Bucket=stack.env.get("RESULTS_BUCKET", "overlord-results"),
            Key=result_key(body["job_id"], body["batch_job_id"]),
            Body=b'{"message": "bench"}',
        )
    return jobs


def _record_status(stack: Stack, batch_job_ids: list[str], status: str, per: int) -> float:
    """Seconds to record ``status`` for these jobs, ``per`` events to an SQS invocation
    (the events of one status, as they come in a burst)."""
    events = stack.events_for(batch_job_ids, status)
    chunks = [events[i : i + per] for i in range(0, len(events), per)]

    def invoke() -> None:
        for chunk in chunks:
            answer = stack.record(sqs_event(chunk, stack))
            if answer.get("batchItemFailures"):
                raise RuntimeError(f"the recorder failed messages: {answer}")

    return timed(invoke)


def _record_life(stack: Stack, batch_job_ids: list[str], per: int) -> float:
    """Seconds to record every status of LIFE for these jobs."""
    return sum(_record_status(stack, batch_job_ids, status, per) for status in LIFE)


def recorder_batches(stack: Stack, sizes: Sizes) -> Result:
    """Events/s through the recorder, SQS batches of EVENT_BATCH vs one event per
    invocation, every status of an echo job's life (other jobs for each side)."""
    stack.use_handlers_here(HELD_QUEUE)
    n = max(EVENT_BATCH, sizes.recorder_jobs // EVENT_BATCH * EVENT_BATCH)
    singles = [b for _, b in _echo_jobs(stack, n)]
    batched = [b for _, b in _echo_jobs(stack, n)]
    warm = [b for _, b in _echo_jobs(stack, 1)]
    _record_life(stack, warm, 1)
    events = n * len(LIFE)
    single_s = batched_s = 0.0
    for status in LIFE:  # A, B, A, B: both sides see the same moments of the machine
        single_s += _record_status(stack, singles, status, 1)
        batched_s += _record_status(stack, batched, status, EVENT_BATCH)
    ratio = single_s / batched_s
    return Result(
        f"{ratio:.2f}×",
        ratio >= 5,
        f"batches of {EVENT_BATCH}: {events / batched_s:.0f} events/s; one per invocation: "
        f"{events / single_s:.0f} events/s ({events} events each)",
    )


def commands_per_job(stack: Stack, sizes: Sizes) -> Result:
    """MongoDB commands (pymongo's command monitoring: what goes on the wire) per echo job:
    its POST, then every status of its life recorded in SQS batches of EVENT_BATCH."""
    stack.use_handlers_here(HELD_QUEUE)
    n = max(EVENT_BATCH, sizes.recorder_jobs // EVENT_BATCH * EVENT_BATCH)
    _record_life(stack, [b for _, b in _echo_jobs(stack, 1)], 1)  # indexes, connections
    with COMMAND_TIMES.capture() as posting:
        jobs = _echo_jobs(stack, n)
    with COMMAND_TIMES.capture() as recording:
        _record_life(stack, [b for _, b in jobs], EVENT_BATCH)
    per_job = (len(posting) + len(recording)) / n
    kinds: dict[str, int] = {}
    for command in [*posting, *recording]:
        kinds[command.name] = kinds.get(command.name, 0) + 1
    shown = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(kinds.items(), key=lambda i: -i[1]))
    return Result(
        f"{per_job:.1f}",
        per_job <= 12,
        f"POST {len(posting) / n:.1f} + events {len(recording) / n:.1f} per job ({shown}); "
        f"{n} jobs, batches of {EVENT_BATCH}",
    )


ROWS = [
    Row("submit path: POST /jobs vs SubmitJob + insert_one", "≤ 1.25×", submit_path),
    Row("recorder: update_one loop rate vs events/s", "≤ 1.3×", recorder),
    Row(
        f"recorder: events/s in batches of {EVENT_BATCH} vs one per invocation",
        "≥ 5×",
        recorder_batches,
    ),
    Row(f"MongoDB commands per echo job, batches of {EVENT_BATCH}", "≤ 12", commands_per_job),
    Row("cold start: submitter vs boto3 + pymongo", "≤ 1.15×", cold_start("submitter")),
    Row("cold start: recorder vs boto3 + pymongo", "≤ 1.15×", cold_start("recorder")),
    Row("end-to-end overhead (POST → SUCCEEDED − worker)", "≤ 1.5 s", e2e_overhead),
    Row("API throughput, 16 clients, jobs held", "≥ 50/s", throughput),
    Row("bulk: N single requests vs one array of N", "≥ 100×", bulk),
]


# ----------------------------------------------------------------------- report
def run(
    sizes: Sizes, state_dir: Path, rows: list[Row] = ROWS
) -> tuple[list[int], dict[tuple[str, int], Result]]:
    results: dict[tuple[str, int], Result] = {}
    passes: list[int] = []
    stack = open_stack(state_dir)
    try:
        plan = [0, sizes.preload] if sizes.preload else [0]
        if not sizes.empty_pass:
            plan = plan[1:] or [0]
        for preload_jobs in plan:
            if preload_jobs:
                seconds = preload(stack.db, preload_jobs)
                print(f"preloaded {preload_jobs:,} jobs in {seconds:.1f} s", file=sys.stderr)
            jobs_now = stack.db[schema.JOBS].estimated_document_count()
            passes.append(jobs_now)
            for row in rows:
                print(f"[{jobs_now:,} jobs] {row.name} …", file=sys.stderr, flush=True)
                started = time.perf_counter()
                try:
                    results[row.name, jobs_now] = row.measure(stack, sizes)
                except Exception as exc:
                    traceback.print_exc()
                    results[row.name, jobs_now] = Result(
                        "error", None, f"{type(exc).__name__}: {exc}"[:120]
                    )
                took = time.perf_counter() - started
                print(f"  {results[row.name, jobs_now].figure} in {took:.1f} s", file=sys.stderr)
    finally:
        stack.stop()
    return passes, results


def report(
    passes: list[int], results: dict[tuple[str, int], Result], title: str, rows: list[Row] = ROWS
) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("measure")
    table.add_column("target", justify="right")
    for jobs in passes:
        table.add_column(f"{jobs:,} jobs", justify="right")
    table.add_column("context (absolute; per database size)")
    for row in rows:
        cells, context = [], []
        for jobs in passes:
            result = results[row.name, jobs]
            mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: ""}[result.met]
            cells.append(f"{result.figure} {mark}".strip())
            context.append(f"{jobs:,}: {result.context}")
        table.add_row(row.name, row.target, *cells, "\n".join(context))
    return table


def markdown(
    passes: list[int], results: dict[tuple[str, int], Result], title: str, rows: list[Row] = ROWS
) -> str:
    """The same table for docs/performance.md."""
    head = ["measure", "target", *(f"{jobs:,} jobs" for jobs in passes), "context"]
    lines = [f"{title}\n", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        found = [results[row.name, jobs] for jobs in passes]
        marks = {True: " ✓", False: " ✗", None: ""}
        cells = [f"{r.figure}{marks[r.met]}" for r in found]
        context = "<br>".join(
            f"{jobs:,}: {r.context}" for jobs, r in zip(passes, found, strict=True)
        )
        lines.append("| " + " | ".join([row.name, row.target, *cells, context]) + " |")
    return "\n".join(lines)


def git_commit() -> str:
    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
        return found.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every row small (CI)")
    parser.add_argument("--preload", type=int, help="jobs added for the second pass (0: none)")
    parser.add_argument("--markdown", action="store_true", help="also print it as Markdown")
    parser.add_argument("--only", help="only the rows whose name holds this text")
    args = parser.parse_args()
    rows = [r for r in ROWS if not args.only or args.only.lower() in r.name.lower()]
    sizes = QUICK if args.quick else FULL
    if args.preload is not None:
        sizes = Sizes(**{**sizes.__dict__, "preload": args.preload})
    started = time.perf_counter()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="overlord-bench-") as tmp:
        passes, results = run(sizes, Path(tmp), rows)
    took = time.perf_counter() - started
    title = (
        f"overlord bench{' --quick' if args.quick else ''} at {git_commit()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the start, {took:.0f} s"
    )
    Console(file=sys.__stdout__, width=180).print(report(passes, results, title, rows))
    if args.markdown:
        print(markdown(passes, results, title, rows), file=sys.__stdout__)
    return 1 if any(r.figure == "error" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
