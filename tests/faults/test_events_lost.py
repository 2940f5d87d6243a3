"""A share of Batch's events never reaches the recorder: one reconcile pass brings every
run to the state Batch itself reports."""

from __future__ import annotations

import random
from typing import Any

from tests.faults.conftest import TERMINAL

REQUESTS = [
    *({"task": "echo", "parameters": {"message": f"m{i}"}} for i in range(8)),
    *({"task": "fail", "parameters": {"exit_code": 3, "message": f"f{i}"}} for i in range(3)),
    *(
        {"task": "fail", "parameters": {"succeed_on_attempt": 2, "message": f"r{i}"}, "attempts": 2}
        for i in range(3)
    ),
]


def test_one_reconcile_repairs_dropped_events(make_flow):
    flow = make_flow(max_vcpus=2)
    chance = random.Random(8)
    dropped: list[tuple[str, str]] = []
    deliver = flow.deliver

    def lossy(event: dict[str, Any]) -> Any:
        if chance.random() < 0.3:
            dropped.append((event["detail"]["jobName"], event["detail"]["status"]))
            return None  # accepted and lost, as an event whose rule target vanished
        return deliver(event)

    flow.deliver = lossy
    for request in REQUESTS:
        status, _, body = flow.api.post("/jobs", request)
        assert status == 202, body
    truth = {j["jobId"]: j for j in flow.wait_batch_done()}
    flow.drain()
    assert any(status in TERMINAL for _, status in dropped), "no terminal event was dropped"

    report = flow.reconcile()
    assert report["moved"], report

    assert flow.db.jobs.count_documents({}) == len(REQUESTS) == len(truth)
    for job in flow.db.jobs.find():
        batch_job_id = job["latest_run"]["batch_job_id"]
        described = truth[batch_job_id]
        run = flow.db.runs.find_one({"_id": batch_job_id})
        where = (job["_id"], described["status"])
        assert job["status"] == run["status"] == described["status"], where
        assert run["status_reason"] == described.get("statusReason"), where
        assert [a["exit_code"] for a in run["attempts"]] == [
            a["container"].get("exitCode") for a in described["attempts"]
        ], where
        assert run["logs_copied"] is True, where
        assert (
            job["result"] == run["result"]
            and run["result"]["summary"]["status"] == (described["status"])
        ), where
        lines = flow.db.logs.count_documents({"batch_job_id": batch_job_id, "kind": "log"})
        assert lines >= len(described["attempts"]), where
