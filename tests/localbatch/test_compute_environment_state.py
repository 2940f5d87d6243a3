"""A DISABLED compute environment holds jobs RUNNABLE, as on AWS; ENABLED runs them.

`make bench` relies on it to measure the API with no worker competing for the CPU.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.waiting import wait_for


def status(batch: Any, job_id: str) -> str:
    return str(batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"])


def test_jobs_wait_runnable_while_the_compute_environment_is_disabled(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue(max_vcpus=4)
    name = make_definition(["python", "-c", "print('ran')"])
    batch.update_compute_environment(computeEnvironment=f"{queue}-ce", state="DISABLED")
    job_id = batch.submit_job(jobName="held", jobQueue=queue, jobDefinition=name)["jobId"]
    wait_for(lambda: status(batch, job_id) == "RUNNABLE")
    time.sleep(1.0)  # several capacity re-checks (0.2 s in these tests)
    assert status(batch, job_id) == "RUNNABLE"
    [ce] = batch.describe_compute_environments(computeEnvironments=[f"{queue}-ce"])[
        "computeEnvironments"
    ]
    assert ce["state"] == "DISABLED"

    batch.update_compute_environment(computeEnvironment=f"{queue}-ce", state="ENABLED")
    assert wait_terminal(job_id)["status"] == "SUCCEEDED"


def test_a_compute_environment_created_disabled_holds_jobs(
    batch: Any, make_definition: Any
) -> None:
    batch.create_compute_environment(
        computeEnvironmentName="held-ce", type="UNMANAGED", state="DISABLED", unmanagedvCpus=4
    )
    batch.create_job_queue(
        jobQueueName="held",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "held-ce"}],
    )
    name = make_definition(["python", "-c", "print('ran')"])
    job_id = batch.submit_job(jobName="held", jobQueue="held", jobDefinition=name)["jobId"]
    wait_for(lambda: status(batch, job_id) == "RUNNABLE")
    time.sleep(1.0)
    assert status(batch, job_id) == "RUNNABLE"
