"""`GET /jobs/{id}/logs`'s read (`MongoStore.list_logs`) as the `logs` collection grows.

On FerretDB 1.24 (`make dev`) the filter `{batch_job_id: …}` is not pushed down to
SQLite, so every read decodes the whole collection (docs/performance.md, "Filters that
still read the whole collection"); on MongoDB the `reading` index answers it.

    .venv/bin/python -m bench.log_reads [--lines 6000 60000] [--samples 7]

Starts a FerretDB process of our build (or uses MONGODB_URI), adds log lines in runs
of six (a job's usual count) up to each size, and prints the median time of one page of
one run's lines at each size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from overlord.adapters.mongo_store import MongoStore
from overlord.domain import schema
from overlord.ports import LogFilter
from overlord_local.devstack.ferretdb import FerretDB

LINES_PER_RUN = 6


def add_runs(db: Any, runs: int) -> list[str]:
    batch_job_ids = [str(uuid.uuid4()) for _ in range(runs)]
    now = datetime.now(UTC)
    lines = [
        {
            "job_id": f"job-{batch_job_id[:8]}",
            "batch_job_id": batch_job_id,
            "phase": 1,
            "attempt": 1,
            "kind": "log",
            "seq": seq,
            "ts": now,
            "message": "x" * 80,
        }
        for batch_job_id in batch_job_ids
        for seq in range(LINES_PER_RUN)
    ]
    for start in range(0, len(lines), 5000):
        db[schema.LOGS].insert_many(lines[start : start + 5000], ordered=False)
    return batch_job_ids


def measure(uri: str, sizes: list[int], samples: int) -> None:
    client: MongoClient = MongoClient(uri, tz_aware=True)
    db = client[f"bench_logs_{uuid.uuid4().hex[:8]}"]
    try:
        store = MongoStore(db)
        store.ensure_indexes()
        runs: list[str] = []
        for size in sorted(sizes):
            runs += add_runs(db, size // LINES_PER_RUN - len(runs))
            times = []
            for batch_job_id in random.sample(runs, samples):
                started = time.perf_counter()
                page = store.list_logs(batch_job_id, LogFilter(), None, 100)
                times.append((time.perf_counter() - started) * 1000)
                assert len(page) == LINES_PER_RUN
            print(
                f"{db[schema.LOGS].estimated_document_count():>9,} log lines: one run's page "
                f"{statistics.median(times):8.1f} ms (median of {samples})",
                flush=True,
            )
    finally:
        client.drop_database(db.name)
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[6000, 60000])
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    if os.environ.get("MONGODB_URI"):
        measure(os.environ["MONGODB_URI"], args.lines, args.samples)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        server = FerretDB(Path(tmp))
        try:
            measure(server.start(), args.lines, args.samples)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
