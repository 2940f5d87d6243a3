"""After jobs ran, `overlord stats --once` and the gateway's GET /metrics show the counts
the database holds (docs/operations.md, "Locally").

A stack of this module's own, with a database of its own, so that every count can be
compared exactly: in both handler modes (in-process, where the dev process reads its
own stdout, and under aws-lambda-rie, where it reads the emulators').
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from pymongo.database import Database

from overlord_local.devstack.running import RunningDev, http, start_dev
from tests.e2e.conftest import MAX_VCPUS, TIMEOUT_SCALE, Stack, cli_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["in-process", "rie"])
def own_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mongodb_uri: str,
    mongo_client: MongoClient,
) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp(f"stats-{request.param}")
    db_name = f"stats_{uuid.uuid4().hex[:8]}"
    args = ["--max-vcpus", str(MAX_VCPUS), "--timeout-scale", str(TIMEOUT_SCALE)]
    args += ["--reconcile-every", "0", *(["--rie"] if request.param == "rie" else [])]
    dev: RunningDev = start_dev(tmp, *args, env={"MONGODB_URI": mongodb_uri, "DB_NAME": db_name})
    try:
        yield Stack(
            dev.url,
            mongo_client[db_name],
            request.param,
            dev.proc,
            tmp,
            dev.output,
            credentials=dev.credentials,
            env=dev.env,
        )
    finally:
        dev.stop()


def database_counts(db: Database) -> dict[tuple[str, str], float]:
    """What the metrics should say, from MongoDB: runs submitted (jobs' own, not array
    children) and how they ended."""
    own = {"parent": {"$exists": False}, "run": {"$ne": None}}
    return {
        ("overlord_submissions_created", ""): db.runs.count_documents(own),
        ("overlord_jobs_ended", "SUCCEEDED"): db.runs.count_documents(
            {**own, "status": "SUCCEEDED"}
        ),
        ("overlord_jobs_ended", "FAILED"): db.runs.count_documents({**own, "status": "FAILED"}),
    }


def metric_counts(text: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (family.name, sample.labels.get("status", ""))
                found[key] = found.get(key, 0) + sample.value
    return found


def stats_rows(stack: Stack) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "stats", "--once", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(stack),
    )
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def test_stats_and_metrics_show_what_the_database_holds(own_stack: Stack) -> None:
    stack = own_stack
    ok = [stack.submit({"task": "echo", "parameters": {"message": f"m{i}"}}) for i in range(2)]
    failed = stack.submit({"task": "fail", "parameters": {"exit_code": 2}})
    body = {"task": "echo", "parameters": {"message": "again"}, "key": uuid.uuid4().hex}
    status, again = stack.post("/jobs", body)
    assert status == 202, again
    assert stack.post("/jobs", body)[0] == 200  # deduplicated
    assert stack.post("/jobs", {"task": "no-such-task", "parameters": {}})[0] == 400
    # Every job ended before counting: one still running would end between the
    # counts compared below (its end counted by /metrics and not yet by the database).
    for job in (*ok, failed, again):
        stack.wait_for(job["job_id"], {"SUCCEEDED", "FAILED"})

    # The recorder prints its metrics as its invocation ends, just after the write.
    deadline = time.monotonic() + 30
    while True:
        expected = database_counts(stack.db)
        status, text = http("GET", stack.url + "/metrics")
        assert status == 200
        counts = metric_counts(text if isinstance(text, str) else text.decode())
        if all(counts.get(k, 0) == v for k, v in expected.items()):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics {counts} vs the database {expected}")
        time.sleep(0.2)
    assert expected[("overlord_submissions_created", "")] == 4
    assert expected[("overlord_jobs_ended", "FAILED")] >= 1
    assert counts[("overlord_submissions_deduplicated", "")] == 1
    assert counts[("overlord_submissions_refused", "")] == 1

    rows = stats_rows(stack)
    by_key: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["type"] == "counter":
            key = (row["metric"], row["labels"].get("status", ""))
            by_key[key] = by_key.get(key, 0) + row["value"]
    for key, value in expected.items():
        assert by_key.get(key, 0) == value, (key, rows)
    lag = [r for r in rows if r["metric"] == "overlord_event_lag_milliseconds"]
    assert lag and lag[0]["count"] >= 3  # at least the three terminal events

    table = subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "stats", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**cli_env(stack), "COLUMNS": "200"},
    )
    assert table.returncode == 0, table.stderr
    assert "overlord_submissions_created" in table.stdout
