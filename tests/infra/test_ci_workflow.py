"""The GitHub Actions workflow has the jobs the project relies on, pinned actions, and cleanup."""

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


CI_RUN = ROOT / ".ci" / "run"
# what .ci/run must do, in this order (the GitHub docker job runs it too)
CI_STAGES = [
    "packages",  # .ci/system-packages.sh: docker.io, debootstrap when missing (README)
    "engine",
    "setup",
    "base-images",
    "images",
    "test",
    "bench",  # make bench --quick: every row of the table, small (docs/performance.md)
    "up",
    "smoke",
    "e2e",
    "down",
]


def ci_run_problems(text: str) -> list[str]:
    stages = re.findall(r"^stage ([\w-]+) ", text, flags=re.MULTILINE)
    problems = [] if stages == CI_STAGES else [f"stages {stages}, expected {CI_STAGES}"]
    for needed in ("trap on_exit EXIT", "OVERLORD_E2E_API_URL", "--iptables=false"):
        if needed not in text:
            problems.append(f".ci/run lacks {needed!r}")
    packages = (ROOT / ".ci" / "system-packages.sh").read_text()
    for package in ("docker.io", "debootstrap"):
        if package not in packages:
            problems.append(f".ci/system-packages.sh does not install {package}")
    if 'kill "$DOCKERD_PID"' not in text:
        problems.append(".ci/run does not stop the dockerd it started by its PID")
    return problems


def test_ci_run_has_every_stage() -> None:
    assert ci_run_problems(CI_RUN.read_text()) == []


def test_ci_run_problems_are_reported() -> None:
    text = CI_RUN.read_text()
    assert any("stages" in p for p in ci_run_problems(text.replace("\nstage smoke ", "\n")))
    assert any("PID" in p for p in ci_run_problems(text.replace('kill "$DOCKERD_PID"', "")))


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
