"""A small `bench/load.py`: 100 submissions from 8 clients, 30% repeats, on `overlord dev`."""

from __future__ import annotations

import uuid

from bench.load import read_env, run_load
from overlord_local.devstack.running import start_dev


def test_concurrent_duplicated_load_loses_and_doubles_nothing(tmp_path, mongodb_uri):
    dev = start_dev(
        tmp_path,
        "--reconcile-every",
        "0",
        "--max-vcpus",
        "1",
        env={"MONGODB_URI": mongodb_uri, "DB_NAME": f"load_{uuid.uuid4().hex[:8]}"},
    )
    try:
        report = run_load(
            dev.url, read_env(tmp_path / "dev.env"), submissions=100, clients=8, drain_timeout=240
        )
    finally:
        dev.stop()
    print("\n".join(report.lines()))
    assert report.server_errors == 0, report.answers
    assert report.problems == []
    assert report.jobs == report.batch_jobs == report.runs == report.terminal == 70
