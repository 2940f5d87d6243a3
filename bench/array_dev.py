"""Array jobs on `overlord dev`, through the API as a client sees it (signed HTTP).

Starts `overlord dev` (as `make dev` does, in its own state directory), then:

1. acceptance: with the job queue DISABLED (so no child runs and nothing competes for
   the CPU), one POST /jobs of --accept echo items (default 10,000): the wall time of
   the request (target: well inside API Gateway's 30 s), and beside it --singles single
   POSTs of one echo job each, whose mean time × --accept is what the same work costs
   one job at a time (Batch calls: 1 vs --accept);
2. run: with the queue enabled again, one array of --size echo items (default 1,000),
   polling GET /jobs/{id} every 0.5 s until the job has ended (its parent and every
   child's ending recorded): the wall time and children per second. This is bounded by
   the local Batch running each child as a worker process on this machine's cores
   (--max-vcpus / 0.25 vCPU at a time).

   With it, the CPU seconds the stack's processes spent during the run, by process
   (``fork server: jobs``: the worker processes it forked and reaped), and the peak of
   MongoDB connections open during the run (TCP connections to the database's port,
   sampled every 0.2 s from /proc/net/tcp{,6}: pooled and monitoring alike), beside the
   budget the settings give (docs/operations.md, "MongoDB connections").

   Then what the database holds for it (the acceptance of issue 19): one run per child,
   each SUCCEEDED; per child no status's state line twice, one result line, and its
   output lines once each; the parent's count of recorded endings equal to the size;
   and the dead letters the event router wrote (none expected).

    .venv/bin/python bench/array_dev.py [--accept 10000] [--singles 100] [--size 1000]
        [--fresh-workers]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from pymongo import MongoClient

from overlord_local.client import ApiClient
from overlord_local.devstack.running import RunningDev, start_dev


def post(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post("/jobs", body)
    if answer.status != 202:
        raise RuntimeError(f"POST /jobs answered {answer.status}: {answer.body}")
    created: dict[str, Any] = answer.body
    return created


def queue_state(dev: RunningDev, state: str) -> None:
    env = dev.env
    batch: Any = boto3.client(
        "batch",
        endpoint_url=env["AWS_ENDPOINT_URL_BATCH"],
        region_name=env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    batch.update_job_queue(jobQueue=env.get("JOB_QUEUE", "overlord"), state=state)


def accept(api: ApiClient, n: int, singles: int) -> None:
    tag = uuid.uuid4().hex
    items = [{"message": f"item {i} {tag}"} for i in range(n)]
    started = time.perf_counter()
    created = post(api, {"task": "echo", "items": items})
    took = time.perf_counter() - started
    print(
        f"POST /jobs with {n:,} echo items: {took:.2f} s (one SubmitJob; job {created['job_id']})"
    )
    if singles:
        started = time.perf_counter()
        for i in range(singles):
            post(api, {"task": "echo", "parameters": {"message": f"single {i} {tag}"}})
        each = (time.perf_counter() - started) / singles
        print(
            f"{singles} single POSTs: {each * 1000:.0f} ms each → {n:,} of them ≈ "
            f"{each * n:.0f} s ({n:,} SubmitJob calls); the array is {each * n / took:.0f}× faster"
        )


def _stat(pid: int) -> tuple[int, str, float, float] | None:
    """(parent, name, own CPU s, CPU s of its reaped children) from /proc/PID/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    fields = raw[raw.rindex(")") + 2 :].split()
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    if b"overlord_local.forkserver" in cmdline:
        name = "fork server"
    own = (int(fields[11]) + int(fields[12])) / ticks
    reaped = (int(fields[13]) + int(fields[14])) / ticks
    return int(fields[1]), name, own, reaped


def stack_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the dev process and each of its descendants (Linux /proc), by name;
    ``… jobs``: what the processes a parent reaped used (the worker processes)."""
    stats = {int(p.name): _stat(int(p.name)) for p in Path("/proc").glob("[0-9]*")}
    tree = {root}
    grew = True
    while grew:
        found = {pid for pid, st in stats.items() if st and st[0] in tree and pid not in tree}
        tree |= found
        grew = bool(found)
    cpu: dict[str, float] = {}
    for pid in tree:
        st = stats.get(pid)
        if st is None:
            continue
        _, name, own, reaped = st
        name = "dev process" if pid == root else name
        cpu[name] = cpu.get(name, 0.0) + own
        if reaped:
            cpu[f"{name}: jobs"] = cpu.get(f"{name}: jobs", 0.0) + reaped
    return cpu


ESTABLISHED = "01"


def connections_to(port: int) -> int:
    """Established TCP connections whose far end is `port` on this host (Linux /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == ESTABLISHED and int(fields[2].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


class PeakConnections:
    """The most connections to the MongoDB port seen while it runs (sampled)."""

    def __init__(self, port: int, every: float = 0.2) -> None:
        self.port, self.every, self.peak = port, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, connections_to(self.port))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def mongodb_port(dev: RunningDev) -> int | None:
    uri = dev.env.get("MONGODB_URI", "")
    hosts = urlsplit(uri).netloc.rpartition("@")[2].split(",")
    return int(hosts[0].rpartition(":")[2] or 27017) if len(hosts) == 1 and hosts[0] else None


def run(api: ApiClient, n: int, timeout: float, dev: RunningDev | None = None) -> bool:
    """Run an array of `n` echo items; False when its record is not what it should be."""
    port = mongodb_port(dev) if dev is not None and sys.platform == "linux" else None
    if port is None:
        return _run(api, n, timeout, dev)
    with PeakConnections(port) as sampled:
        ok = _run(api, n, timeout, dev)
    pool = int(dev.env.get("MONGODB_MAX_POOL_SIZE") or 10) if dev is not None else 10
    # One MongoClient in the dev process (the handlers share it): its pool, plus
    # pymongo's two monitoring connections to the one server.
    print(
        f"  MongoDB connections during the run: peak {sampled.peak} "
        f"(budget for the dev process: pool {pool} + 2 monitoring = {pool + 2})"
    )
    return ok and sampled.peak <= pool + 2


def _run(api: ApiClient, n: int, timeout: float, dev: RunningDev | None = None) -> bool:
    cpu_before = stack_cpu(dev.proc.pid) if dev is not None and sys.platform == "linux" else {}
    tag = uuid.uuid4().hex
    items = [{"message": f"item {i} {tag}"} for i in range(n)]
    started = time.perf_counter()
    created = post(api, {"task": "echo", "items": items})
    accepted = time.perf_counter() - started
    job: dict[str, Any] = {}
    while time.perf_counter() - started < timeout:
        job = api.get(f"/jobs/{created['job_id']}").body
        # The job ends once its parent has and every child's ending is recorded.
        if job.get("status") in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.5)
    took = time.perf_counter() - started
    counts = job.get("array", {}).get("counts", {})
    print(
        f"{n:,} echo items: accepted in {accepted:.2f} s; GET shows {counts} after {took:.1f} s "
        f"({n / took:.1f} children/s; job {job.get('status')})"
    )
    ok = verify(dev, job, n) if dev is not None else counts.get("SUCCEEDED") == n
    if dev is not None and sys.platform == "linux":
        cpu = stack_cpu(dev.proc.pid)
        spent = {k: v - cpu_before.get(k, 0.0) for k, v in cpu.items()}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(spent.items(), key=lambda i: -i[1]))
        print(f"  CPU seconds during the run: {sum(spent.values()):.1f} ({shown})")
    latest = job.get("latest_run") or {}
    if latest.get("started_at") and latest.get("stopped_at"):
        # The parent's times are Batch's: its first child's start, its last child's end.
        ran = datetime.fromisoformat(latest["stopped_at"]) - datetime.fromisoformat(
            job["created_at"]
        )
        print(
            f"  Batch: last child ended {ran.total_seconds():.1f} s after the job was created "
            "(the rest is the events reaching the recorder)"
        )
    return ok


def verify(dev: RunningDev, job: dict[str, Any], n: int) -> bool:
    """Print what the database holds for the array `job` of `n` children; False when a
    child is missing, not SUCCEEDED or recorded twice, or an event was dead-lettered."""
    env = dev.env
    parent = (job.get("latest_run") or {}).get("batch_job_id")
    with MongoClient(env["MONGODB_URI"]) as client:
        db = client[env["DB_NAME"]]
        parent_run = db.runs.find_one({"_id": parent}, {"array": 1}) or {}
        children = list(db.runs.find({"parent": parent}, {"status": 1, "index": 1}))
        lines = list(
            db.logs.find(
                {"job_id": job["job_id"]},
                {"batch_job_id": 1, "kind": 1, "status": 1, "attempt": 1, "seq": 1},
            )
        )
    statuses = dict(Counter(child.get("status") or "-" for child in children))
    every_index = {child.get("index") for child in children} == set(range(n))
    twice: list[str] = []
    per_child: dict[str, dict[str, list[Any]]] = {}
    for line in lines:
        if line["batch_job_id"] == parent:
            continue
        kinds = per_child.setdefault(line["batch_job_id"], {})
        key = line.get("status") if line["kind"] == "state" else (line["attempt"], line["seq"])
        kinds.setdefault(line["kind"], []).append(key)
    for batch_job_id, kinds in per_child.items():
        for kind, keys in kinds.items():
            if len(keys) != len(set(keys)) or (kind == "result" and len(keys) != 1):
                twice.append(f"{batch_job_id} {kind} {sorted(map(str, keys))}")
    no_result = sum(1 for kinds in per_child.values() if "result" not in kinds)
    no_result += len(children) - len(per_child)
    dead_file = dev.state_dir / "dead-letters.jsonl"
    dead = len(dead_file.read_text().splitlines()) if dead_file.exists() else 0
    ended = (parent_run.get("array") or {}).get("ended")
    ok = (
        len(children) == n
        and every_index
        and statuses == {"SUCCEEDED": n}
        and not twice
        and not no_result
        and ended == n
        and dead == 0
    )
    print(
        f"  recorded: {len(children):,} child runs ({statuses}; indices 0..{n - 1} "
        f"{'all' if every_index else 'NOT all'} present), "
        f"{len(lines):,} log lines; children with a line recorded twice: {len(twice)}"
        f"{' e.g. ' + twice[0] if twice else ''}; children without one result line: "
        f"{no_result}; parent's recorded endings {ended}; dead letters {dead} "
        f"→ {'OK' if ok else 'NOT OK'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accept", type=int, default=10_000, help="items of the one POST")
    parser.add_argument("--singles", type=int, default=100, help="single POSTs to compare")
    parser.add_argument("--size", type=int, default=1000, help="items of the array run (0: none)")
    parser.add_argument("--max-vcpus", type=int, default=4, help="the local CE's vCPUs")
    parser.add_argument("--timeout", type=float, default=1800)

    parser.add_argument(
        "--fresh-workers", action="store_true", help="each child a fresh interpreter"
    )
    args = parser.parse_args()

    stack_args: tuple[str, ...] = ("--reconcile-every", "0", "--max-vcpus", str(args.max_vcpus))
    if args.fresh_workers:
        stack_args += ("--fresh-workers",)
    with tempfile.TemporaryDirectory(prefix="overlord-bench-") as tmp:
        if args.accept:
            # Its queue stays disabled: the accepted children never run, and the stack
            # (with its database) goes when this phase ends.
            dev = start_dev(Path(tmp) / "accept", *stack_args)
            try:
                queue_state(dev, "DISABLED")
                accept(dev.client(timeout=60), args.accept, args.singles)
            finally:
                dev.stop()
        if args.size:
            dev = start_dev(Path(tmp) / "run", *stack_args)
            try:
                if not run(dev.client(timeout=60), args.size, args.timeout, dev):
                    return 1
            finally:
                dev.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
