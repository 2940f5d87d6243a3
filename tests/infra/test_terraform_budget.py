"""The MongoDB connection budget shared out (terraform/modules/functions/budget.tf),
evaluated by a real terraform: the file holds only variables, locals and a
`terraform_data` check, so it runs without the AWS provider. Skipped without a
terraform binary (PATH or .tools/bin)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from terraformcheck import ROOT, TERRAFORM

BUDGET = TERRAFORM / "modules" / "functions" / "budget.tf"
TF = shutil.which("terraform") or (
    str(ROOT / ".tools" / "bin" / "terraform")
    if (ROOT / ".tools" / "bin" / "terraform").exists()
    else None
)

pytestmark = pytest.mark.skipif(TF is None, reason="no terraform binary")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("budget")
    shutil.copy(BUDGET, work / "budget.tf")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env |= {"TF_IN_AUTOMATION": "1", "TF_DATA_DIR": str(work / ".terraform")}
    if not Path(env.get("TF_CLI_CONFIG_FILE", "/nonexistent")).exists():
        env["TF_CLI_CONFIG_FILE"] = os.devnull
    subprocess.run(
        [TF, "init", "-input=false", "-no-color"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work, env


def _run(
    root: tuple[Path, dict[str, str]], args: list[str], values: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    work, env = root
    (work / "case.tfvars").write_text(values)
    return subprocess.run(
        [TF, *args, "-no-color", "-var-file=case.tfvars"],
        cwd=work,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def plan_of(root: tuple[Path, dict[str, str]], values: str) -> dict[str, object]:
    result = _run(root, ["console"], values, "jsonencode(local.connection_plan)\n")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(json.loads(result.stdout.strip())))


def test_one_budget_gives_both_concurrencies_within_it(root):
    # An Atlas M10 (1,500) shared by three environments: 500 each.
    plan = plan_of(root, "mongodb_connection_budget = 500\n")
    # 2 pooled + 2 monitoring x 3 members
    assert plan["per_environment"] == 8
    assert plan["environments"] == 62
    assert plan["submitter_reserved"] == 30 and plan["recorder_maximum_concurrency"] == 31
    assert plan["peak_connections"] == 62 * 8 <= 500


def test_the_share_and_pool_size_move_the_split(root):
    plan = plan_of(
        root,
        "mongodb_connection_budget = 1500\nmongodb_max_pool_size = 4\n"
        "submitter_connection_share = 0.25\n",
    )
    assert plan["per_environment"] == 10 and plan["environments"] == 150
    assert plan["submitter_reserved"] == 37 and plan["recorder_maximum_concurrency"] == 112
    assert plan["peak_connections"] <= 1500


def test_no_budget_reserves_nothing(root):
    plan = plan_of(root, "")
    assert plan["submitter_reserved"] is None
    assert plan["recorder_maximum_concurrency"] == 5


def test_a_budget_too_small_for_the_three_functions_fails_the_plan(root):
    result = _run(root, ["plan", "-input=false", "-lock=false"], "mongodb_connection_budget = 24\n")
    assert result.returncode != 0
    said = " ".join((result.stdout + result.stderr).split())  # terraform wraps lines
    assert "allows 3 execution environments of 8 connections each" in said
