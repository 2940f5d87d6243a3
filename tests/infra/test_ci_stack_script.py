"""terraform/scripts/ci-stack.sh and .github/workflows/deploy.yml (issue 18: the deployed
stack as the e2e suite's third target), run for real with stub terraform, aws, docker and
python on PATH, as tests/infra/test_deploy_script.py runs deploy.sh."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from terraformcheck import TERRAFORM

ROOT = TERRAFORM.parent
SCRIPTS = TERRAFORM / "scripts"
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
URI = "mongodb+srv://overlord:pw-never-printed@cluster0.example.net/"
API = "https://abcd.execute-api.eu-west-1.amazonaws.com/"

STUB_TERRAFORM = f"""#!/bin/sh
echo "terraform $*" >> "$STUB_LOG"
case "$1" in -chdir=*) cd "${{1#-chdir=}}" || exit 1 ;; esac
case "$*" in
  *"output -json ecr_repository_urls"*)
    echo '{{"submitter": "{REGISTRY}/o/submitter", "recorder": "{REGISTRY}/o/recorder",
           "worker": "{REGISTRY}/o/worker"}}' ;;
  *"output -raw mongodb_secret_arn"*) printf 'arn:aws:secretsmanager:eu-west-1:1:secret:x' ;;
  *"output -raw api_url"*) printf '{API}' ;;
  *"output -raw results_bucket"*) printf 'overlord-ci-7-results' ;;
esac
exit 0
"""

STUB_AWS = """#!/bin/sh
echo "aws $*" >> "$STUB_LOG"
case "$*" in
  *"describe-availability-zones"*) printf '[\\n    "eu-west-1a",\\n    "eu-west-1b"\\n]\\n' ;;
  *"get-login-password"*) echo secret ;;
  *"describe-images"*) exit 254 ;;
  *"put-secret-value"*)
    for a in "$@"; do
      case "$a" in file://*) cp "${a#file://}" "$STUB_LOG.secret" ;; esac
    done ;;
esac
exit 0
"""

STUB_DOCKER = """#!/bin/sh
echo "docker $*" >> "$STUB_LOG"
cat >/dev/null 2>&1 || true
exit 0
"""

# .venv/bin/python: what it was asked to run, and the environment the e2e suite reads.
STUB_PYTHON = """#!/bin/sh
echo "python $* | api=$OVERLORD_E2E_API_URL deployed=$OVERLORD_E2E_DEPLOYED db=$DB_NAME \
bucket=$RESULTS_BUCKET scale=$OVERLORD_E2E_WAIT_SCALE" >> "$STUB_LOG"
cat >/dev/null 2>&1 || true
exit 0
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "terraform" / "scripts").mkdir(parents=True)
    for script in ("ci-stack.sh", "deploy.sh"):
        shutil.copy(SCRIPTS / script, root / "terraform" / "scripts" / script)
    shutil.copytree(TERRAFORM / "envs" / "dev", root / "terraform" / "envs" / "dev")
    (root / ".venv" / "bin").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        bin_dir / "terraform": STUB_TERRAFORM,
        bin_dir / "aws": STUB_AWS,
        bin_dir / "docker": STUB_DOCKER,
        root / ".venv" / "bin" / "python": STUB_PYTHON,
    }
    for path, text in stubs.items():
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return root


def run(repo: Path, step: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = repo.parent / "calls.log"
    environment = {
        "PATH": f"{repo.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(repo.parent),
        "STUB_LOG": str(log),
        "IMAGE_TAG": "abc123",
        "ENV": "ci-7",
        "AWS_REGION": "eu-west-1",
        "MONGODB_URI": URI,
        **env,
    }
    result = subprocess.run(
        ["bash", str(repo / "terraform" / "scripts" / "ci-stack.sh"), step],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


@pytest.mark.parametrize("env", ["dev", "", "prod-ci-1"])
def test_only_a_ci_environment_is_touched(repo: Path, env: str) -> None:
    """The script destroys what it deploys: never an operator's environment."""
    for step in ("prepare", "deploy", "verify", "destroy"):
        result, calls = run(repo, step, ENV=env)
        assert result.returncode == 2 and "ENV must start with ci-" in result.stderr
        assert calls == []


def test_prepare_writes_a_disposable_environment(repo: Path) -> None:
    result, calls = run(repo, "prepare")
    assert result.returncode == 0, result.stderr
    assert calls[0].startswith("aws ec2 describe-availability-zones --region eu-west-1")
    env_dir = repo / "terraform" / "envs" / "ci-7"
    assert {p.name for p in env_dir.glob("*.tf")} == {
        p.name for p in (TERRAFORM / "envs" / "dev").glob("*.tf")
    }
    tfvars = (env_dir / "terraform.tfvars").read_text()
    for line in (
        'region      = "eu-west-1"',
        'azs         = ["eu-west-1a","eu-west-1b"]',
        'environment = "ci-7"',
        'db_name     = "overlord_ci_7"',
        "results_bucket_force_destroy = true",
        "ecr_force_delete             = true",
        "create_nat_gateway   = false",
    ):
        assert line in tfvars, tfvars
    # Every variable it sets exists in envs/dev.
    variables = (TERRAFORM / "envs" / "dev" / "variables.tf").read_text()
    for line in tfvars.splitlines():
        if "=" in line and not line.startswith((" ", "#", "}")):
            assert f'variable "{line.split("=")[0].strip()}"' in variables, line


def test_deploy_runs_deploy_sh_and_stores_the_uri_without_printing_it(repo: Path) -> None:
    run(repo, "prepare")
    result, calls = run(repo, "deploy")
    assert result.returncode == 0, result.stderr
    applies = [c for c in calls if c.startswith("terraform") and " apply " in c]
    assert len(applies) == 2 and all("-auto-approve" in c for c in applies)
    assert all("-chdir=terraform/envs/ci-7" in c for c in applies)
    (put,) = [c for c in calls if "put-secret-value" in c]
    assert "--secret-id arn:aws:secretsmanager:eu-west-1:1:secret:x" in put
    assert (repo.parent / "calls.log.secret").read_text() == URI
    # Never on a command line, in the output, or left on disk.
    assert "pw-never-printed" not in "\n".join(calls) + result.stdout + result.stderr
    written = put.split("file://")[1].split()[0]
    assert not Path(written).exists()


def test_verify_waits_for_health_then_runs_the_e2e_suite_at_the_deployed_url(
    repo: Path,
) -> None:
    run(repo, "prepare")
    result, calls = run(repo, "verify")
    assert result.returncode == 0, result.stderr
    health, suite = [c for c in calls if c.startswith("python")]
    assert health.startswith(f"python - {API} |")
    assert suite.startswith("python -m pytest -m e2e tests/e2e ")
    assert f"api={API} deployed=1 db=overlord_ci_7 bucket=overlord-ci-7-results scale=6" in suite


def test_destroy_runs_without_a_deploy_and_is_a_no_op_without_an_environment(
    repo: Path,
) -> None:
    result, calls = run(repo, "destroy")
    assert result.returncode == 0 and "nothing to destroy" in result.stdout
    assert calls == []
    run(repo, "prepare")
    result, calls = run(repo, "destroy")
    assert result.returncode == 0, result.stderr
    (destroy,) = [c for c in calls if " destroy " in c]
    assert "-auto-approve" in destroy and "-var image_tag=none" in destroy
    # After a deploy the pushed tag (image.auto.tfvars) is what destroy reads.
    run(repo, "deploy")
    result, calls = run(repo, "destroy")  # the stubs' log keeps every run's calls
    destroy = [c for c in calls if " destroy " in c][-1]
    assert "image_tag" not in destroy


def test_the_workflow_runs_the_steps_in_order_and_always_destroys() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
    (job,) = workflow["jobs"].values()
    assert job["env"]["ENV"] == "ci-${{ github.run_id }}"
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    order = [f"terraform/scripts/ci-stack.sh {step}" for step in ("prepare", "deploy", "verify")]
    assert [r for r in runs if r.startswith("terraform/scripts/ci-stack.sh")] == [
        *order,
        "terraform/scripts/ci-stack.sh destroy",
    ]
    assert steps[-1]["if"] == "always()"
    (credentials,) = [s for s in steps if "configure-aws-credentials" in s.get("uses", "")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not any("aws-access-key-id" in str(s.get("with", {})) for s in steps)
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
    assert all(pinned.match(s["uses"]) for s in steps if "uses" in s)


def test_actionlint_accepts_the_deploy_workflow() -> None:
    actionlint = shutil.which("actionlint")
    if not actionlint:
        pytest.skip(
            "actionlint not installed (go install github.com/rhysd/actionlint/cmd/actionlint)"
        )
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
