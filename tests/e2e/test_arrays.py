"""Array jobs end to end: HTTP → submitter → the local Batch's parent and children →
workers → events → recorder → MongoDB, read back through the API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.e2e.conftest import Stack, cli_env

pytestmark = pytest.mark.e2e


def test_five_echo_items_succeed_and_a_childs_lines_are_reached_by_index(stack: Stack):
    tag = uuid.uuid4().hex
    items = [{"message": f"item {i} {tag}"} for i in range(5)]
    created = stack.submit({"task": "echo", "items": items})
    job = stack.wait_for_array(created["job_id"])
    assert job["status"] == "SUCCEEDED", job
    assert job["array"] == {"size": 5, "counts": {"SUCCEEDED": 5}, "failed_indices": []}
    assert job["latest_run"]["array"]["size"] == 5

    status, page = stack.get(f"/jobs/{created['job_id']}/logs", {"index": 3, "kind": "log"})
    assert status == 200, page
    assert any(f"item 3 {tag}" in x["message"] for x in page["lines"]), page
    assert not any(f"item 2 {tag}" in x["message"] for x in page["lines"])
    status, child = stack.get(f"/jobs/{created['job_id']}", {"index": 3})
    assert status == 200 and child["child"]["status"] == "SUCCEEDED"
    assert child["child"]["result"]["summary"]["output"] == {"message": f"item 3 {tag}"}
    assert child["child"]["batch_job_id"] == f"{created['batch_job_id']}:3"

    parent = created["batch_job_id"]
    children = list(stack.db.runs.find({"parent": parent}))
    assert sorted(c["index"] for c in children) == [0, 1, 2, 3, 4]
    assert stack.db.jobs.find_one({"_id": created["job_id"]})["items_count"] == 5


def test_items_beyond_the_environment_reach_each_child_through_s3_by_offsets(stack: Stack):
    """~9 kB of items: over the container overrides' budget, so the list goes to S3 with
    its offsets, and each child reads its own item by ranged GETs."""
    tag = uuid.uuid4().hex
    items = [{"message": f"item {i} {tag} é ☃ 𝄞 " + "x" * 3000} for i in range(3)]
    created = stack.submit({"task": "echo", "items": items})
    job = stack.wait_for_array(created["job_id"])
    assert job["status"] == "SUCCEEDED", job
    for index, item in enumerate(items):
        status, child = stack.get(f"/jobs/{created['job_id']}", {"index": index})
        assert status == 200 and child["child"]["result"]["summary"]["output"] == item, child
    if not stack.local:
        return
    s3 = stack.s3
    bucket, job_id = stack.env["RESULTS_BUCKET"], created["job_id"]
    listed = s3.get_object(Bucket=bucket, Key=f"params/{job_id}.json")["Body"].read()
    offsets = s3.get_object(Bucket=bucket, Key=f"params/{job_id}.offsets")["Body"].read()
    assert json.loads(listed) == items and len(offsets) == 16 * len(items)


def test_one_failing_item_fails_the_job_and_is_named(stack: Stack):
    ok = {"succeed_on_attempt": 1}
    items = [ok, ok, {"exit_code": 3, "message": f"item 2 {uuid.uuid4().hex}"}, ok]
    created = stack.submit({"task": "fail", "items": items, "attempts": 1})
    job = stack.wait_for_array(created["job_id"])
    assert job["status"] == "FAILED", job
    assert job["array"] == {
        "size": 4,
        "counts": {"FAILED": 1, "SUCCEEDED": 3},
        "failed_indices": [2],
    }
    status, child = stack.get(f"/jobs/{created['job_id']}", {"index": 2})
    assert status == 200 and [a["exit_code"] for a in child["child"]["attempts"]] == [3]


def test_a_bad_item_is_refused_before_anything_runs(stack: Stack):
    jobs_before = stack.db.jobs.count_documents({})
    status, problem = stack.post(
        "/jobs", {"task": "sleep", "items": [{"seconds": 0}, {"seconds": "soon"}]}
    )
    assert status == 400 and problem["detail"].startswith("items[1].seconds: "), problem
    assert stack.db.jobs.count_documents({}) == jobs_before


def test_cli_submits_items_and_follows_the_children(stack: Stack, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"message": f"cli {i}"}) + "\n" for i in range(3)))
    proc = subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "submit", "echo", "--items", str(items)],
        capture_output=True,
        text=True,
        timeout=90,
        env=cli_env(stack),
    )
    assert proc.returncode == 0, proc.stderr
    assert "SUCCEEDED" in proc.stdout + proc.stderr


def test_a_rerun_of_the_failed_items_runs_only_them(stack: Stack):
    """checksum fails on an object that is not there yet: once it is, re-running only
    the failed items brings every item to SUCCEEDED."""
    if not stack.local:
        pytest.skip("writes to the stack's S3 with its own credentials")
    s3 = stack.s3
    bucket = stack.env["RESULTS_BUCKET"]
    prefix = f"inputs/e2e-{uuid.uuid4().hex}"  # where the worker role may read (Terraform)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/0", Body=b"zero")
    items = [{"s3_uri": f"s3://{bucket}/{prefix}/{i}"} for i in range(3)]
    created = stack.submit({"task": "checksum", "items": items, "attempts": 1})
    job = stack.wait_for_array(created["job_id"])
    assert job["status"] == "FAILED" and job["array"]["failed_indices"] == [1, 2], job

    for index in (1, 2):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{index}", Body=b"now here")
    status, rerun = stack.post(f"/jobs/{created['job_id']}/runs", {"only": "failed"})
    assert status == 202 and rerun["run"] == 2, rerun
    # Until run 2's children's own ends are recorded, items 1 and 2 still count run 1's.
    deadline = time.monotonic() + 60
    while True:
        job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"}, timeout=60)
        if job["array"]["counts"] == {"SUCCEEDED": 3} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert job["status"] == "SUCCEEDED", job
    assert job["array"] == {"size": 3, "counts": {"SUCCEEDED": 3}, "failed_indices": []}
    assert job["latest_run"]["array"] == {**job["latest_run"]["array"], "indices": [1, 2]}
    status, child = stack.get(f"/jobs/{created['job_id']}", {"index": 2})
    assert child["child"]["batch_job_id"] == f"{rerun['batch_job_id']}:1"
    assert child["child"]["result"]["summary"]["output"]["size"] == len(b"now here")
