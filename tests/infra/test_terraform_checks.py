"""The layout checks of terraform/envs/dev (checks.tf), planned by a real terraform.

checks.tf reads only variables, and its preconditions sit on a `terraform_data`
resource (built into Terraform), so it plans without the AWS provider or an
account: each case copies variables.tf and checks.tf into a scratch root module
and runs `terraform plan` with the operator's values. Skipped without a terraform
binary (PATH or .tools/bin).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from terraformcheck import ROOT, TERRAFORM

ENV_DIR = TERRAFORM / "envs" / "dev"
TF = shutil.which("terraform") or (
    str(ROOT / ".tools" / "bin" / "terraform")
    if (ROOT / ".tools" / "bin" / "terraform").exists()
    else None
)

pytestmark = pytest.mark.skipif(TF is None, reason="no terraform binary")

EXISTING_VPC = 'create_vpc = false\nvpc_id = "vpc-1"\nsubnet_ids = ["subnet-1"]\n'
REQUIRED = 'region = "eu-west-1"\nimage_tag = "abc"\nazs = ["eu-west-1a", "eu-west-1b"]\n'


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("envcheck")
    for name in ("variables.tf", "checks.tf"):
        shutil.copy(ENV_DIR / name, work / name)
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


def plan(root: tuple[Path, dict[str, str]], values: str) -> subprocess.CompletedProcess[str]:
    work, env = root
    (work / "case.tfvars").write_text(REQUIRED + values)
    return subprocess.run(
        [TF, "plan", "-input=false", "-no-color", "-lock=false", "-var-file=case.tfvars"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "values",
    [
        "",  # the default: Fargate in public subnets with public IPs, Lambdas outside
        'batch_compute_type = "FARGATE_SPOT"\n',
        'batch_compute_type = "EC2"\ncreate_nat_gateway = true\n',
        'batch_compute_type = "SPOT"\nenable_vpc_endpoints = true\n',
        "lambdas_in_vpc = true\ncreate_nat_gateway = true\n",
        "lambdas_in_vpc = true\nenable_vpc_endpoints = true\n",
        EXISTING_VPC + "lambdas_in_vpc = true\n",
        EXISTING_VPC + 'batch_compute_type = "EC2"\n',
    ],
)
def test_working_layouts_plan(root: tuple[Path, dict[str, str]], values: str) -> None:
    result = plan(root, values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "says"),
    [
        # EC2 instances in the created public subnets get no public IP: no ECS registration.
        ('batch_compute_type = "EC2"\n', "create_nat_gateway = true or enable_vpc_endpoints"),
        ('batch_compute_type = "SPOT"\n', "create_nat_gateway = true or enable_vpc_endpoints"),
        # Lambdas in private subnets with no way out: every call times out.
        ("lambdas_in_vpc = true\n", "create_nat_gateway = true"),
        # A NAT gateway is only created in a created VPC.
        (EXISTING_VPC + "create_nat_gateway = true\n", "create_nat_gateway"),
    ],
)
def test_broken_layouts_fail_with_what_to_set(
    root: tuple[Path, dict[str, str]], values: str, says: str
) -> None:
    result = plan(root, values)
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert "Resource precondition failed" in message, message
    assert says in message, message
