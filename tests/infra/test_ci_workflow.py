"""The GitHub Actions workflow has the jobs the project relies on, pinned actions, and cleanup.

What .ci/run (which the workflow's docker job runs) does is tested by running it:
tests/infra/test_ci_run.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfilecheck import DOCKERFILES

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
JOBS = {"lint", "tests", "docker", "terraform", "checkov"}


def workflow_problems(workflow: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    jobs: dict[str, Any] = workflow.get("jobs") or {}
    if missing := JOBS - set(jobs):
        problems.append(f"missing jobs: {sorted(missing)}")
    for name, job in jobs.items():
        for step in job.get("steps") or []:
            uses = step.get("uses")
            if uses and not PINNED.match(uses):
                problems.append(f"{name}: action {uses!r} is not pinned to a commit")
    steps = {name: [s.get("run", "") for s in job.get("steps") or []] for name, job in jobs.items()}
    docker = jobs.get("docker") or {}
    down = [s for s in docker.get("steps") or [] if "make down" in s.get("run", "")]
    if not down or "always()" not in str(down[-1].get("if", "")):
        problems.append("docker: `make down` does not run with if: always()")
    if not any(".ci/run" in run for run in steps.get("docker", [])):
        problems.append("docker: no step runs .ci/run")
    mongo = ((jobs.get("tests") or {}).get("services") or {}).get("mongo") or {}
    if not str(mongo.get("image", "")).startswith("mongo:7"):
        problems.append("tests: no mongo:7 service container")
    if "MONGODB_URI" not in ((jobs.get("tests") or {}).get("env") or {}):
        problems.append("tests: MONGODB_URI not set")
    return problems


def test_workflow_is_complete() -> None:
    assert workflow_problems(yaml.safe_load(WORKFLOW.read_text())) == []


def checkov_dockerfiles(workflow: dict[str, Any]) -> set[str]:
    runs = " ".join(s.get("run", "") for s in workflow["jobs"]["checkov"]["steps"])
    return set(re.findall(r"--file (\S+)", runs))


def test_checkov_scans_every_dockerfile() -> None:
    assert checkov_dockerfiles(yaml.safe_load(WORKFLOW.read_text())) == set(DOCKERFILES)


def test_workflow_problems_are_reported() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["jobs"]["lint"]["steps"][0]["uses"] = "actions/checkout@v4"
    workflow["jobs"]["docker"]["steps"][-1].pop("if")
    del workflow["jobs"]["checkov"]
    problems = workflow_problems(workflow)
    assert any("not pinned" in p for p in problems), problems
    assert any("make down" in p for p in problems), problems
    assert any("missing jobs" in p for p in problems), problems


def test_actionlint_accepts_the_workflow() -> None:
    actionlint = shutil.which("actionlint")
    if not actionlint:
        pytest.skip(
            "actionlint not installed (go install github.com/rhysd/actionlint/cmd/actionlint)"
        )
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
