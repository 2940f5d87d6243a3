"""Every metric an alarm or the dashboard names is one the product emits on a tested path.

Derived, like the IAM coverage test: the session records every EMF document the product
prints (tests/conftest.py installs tests/support/emf.py); this module is collected
last, reads them back, checks each against the EMF specification's shape, and compares
their metric names with those terraform/modules/monitoring names. Run alone it drives
a representative set itself (the IAM test's flow plus duplicates, a refusal, an array,
foreign and stale events, a truncated stream), so it still checks every name.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from terraformcheck import TERRAFORM, module_docs

from overlord.adapters.config import Settings
from overlord.adapters.metrics import Metric
from overlord.runtime import wiring
from overlord.services import record
from overlord_recorder.handler import lambda_handler as recorder
from overlord_submitter.handler import lambda_handler as submitter
from tests.conftest import environment
from tests.support import emf
from tests.support.api import Api
from tests.support.events import attempt, state_event

MONITORING = TERRAFORM / "modules" / "monitoring"
LOG_GROUP = "/aws/batch/job"


def _locals(module: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in module.get("locals", []):
        merged.update(block)
    return merged


def monitored_names() -> set[str]:
    """The product metrics the alarms and the dashboard name."""
    found = _locals(module_docs(MONITORING)[MONITORING])
    names = {alarm["metric"] for alarm in found["product_alarms"].values()}
    for widget in found["product_widgets"]:
        names.update(widget["metrics"])
        if widget["search"]:
            names.add(widget["search"])
    return names


def _variable_default(name: str) -> Any:
    module = module_docs(MONITORING)[MONITORING]
    for block in module["variable"]:
        if name in block:
            return block[name]["default"]
    raise KeyError(name)


def _drive(aws: Any, db: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each metric once, through the real handlers (the IAM test drives reconcile's)."""
    from tests.infra.test_iam_coverage import _drive as drive_iam

    api = Api(submitter)
    body = {"task": "echo", "parameters": {"message": uuid.uuid4().hex}}
    _, _, job = api.post("/jobs", body)
    assert api.post("/jobs", body)[0] == 200  # deduplicated
    assert api.post("/jobs", {"task": "nope", "parameters": {}})[0] == 400  # refused
    items = [{"message": "a"}, {"message": "b"}]
    assert api.post("/jobs", {"task": "echo", "items": items})[0] == 202  # array children
    with environment(SUBMIT_RATE_PER_SECOND="1", SUBMIT_MAX_WAIT_SECONDS="0"):
        wiring.reset()
        api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
        api.post("/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}})
    wiring.reset()

    # A stream longer than the (lowered) cap: copied up to it and marked truncated.
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    aws.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now_ms = int(time.time() * 1000)  # CloudWatch Logs drops events older than 14 days
    aws.logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now_ms + i, "message": f"l{i}"} for i in range(3)],
    )
    monkeypatch.setattr(record, "LOG_LINES_CAP", 2)
    done = [attempt(stream, 0)]
    ended = state_event(
        job["job_id"], job["batch_job_id"], "SUCCEEDED", attempts=done, log_stream=stream
    )
    recorder(ended, lambda_context)
    recorder(ended, lambda_context)  # stale: the run has that status already
    recorder(state_event("someone-elses-job", "b-" + uuid.uuid4().hex, "RUNNING"), lambda_context)
    drive_iam(aws, db, os.environ["MONGODB_URI"], lambda_context)


@pytest.fixture
def recorded(app_env, aws, db, lambda_context, monkeypatch) -> list[dict[str, Any]]:
    _drive(aws, db, lambda_context, monkeypatch)
    return emf.read(os.environ[emf.ENV_VAR])


def test_every_monitored_metric_is_emitted_by_a_tested_path(recorded) -> None:
    emitted = emf.metric_names(recorded)
    missing = monitored_names() - emitted
    assert not missing, f"named by terraform/modules/monitoring, never emitted: {sorted(missing)}"


def test_every_emitted_document_is_valid_emf(recorded) -> None:
    assert recorded
    bad = {i: p for i, doc in enumerate(recorded) if (p := emf.problems(doc))}
    assert bad == {}


def test_the_dashboard_and_alarms_name_only_the_products_metrics() -> None:
    known = {m.value for m in Metric}
    assert monitored_names() - known == set()


def test_alarms_look_where_the_product_writes() -> None:
    """The module's defaults are the product's: namespace and service dimension."""
    settings = Settings()
    assert _variable_default("metrics_namespace") == settings.metrics_namespace
    assert _variable_default("service") == settings.service
