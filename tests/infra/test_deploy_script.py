"""terraform/scripts/deploy.sh, run for real with stub terraform/aws/docker on PATH,
and statically for bash constructs older bash versions abort on."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from terraformcheck import TERRAFORM, script_problems, unguarded_array_expansions

DEPLOY = TERRAFORM / "scripts" / "deploy.sh"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

STUB_TERRAFORM = f"""#!/bin/sh
echo "terraform $*" >> "$STUB_LOG"
case "$1" in -chdir=*) cd "${{1#-chdir=}}" || exit 1 ;; esac
case "$*" in
  *"output -json ecr_repository_urls"*)
    echo '{{"submitter": "{REGISTRY}/overlord-dev/submitter",
           "recorder": "{REGISTRY}/overlord-dev/recorder",
           "worker": "{REGISTRY}/overlord-dev/worker",
           "task-wordcount": "{REGISTRY}/overlord-dev/task-wordcount"}}' ;;
  *"output -raw mongodb_secret_arn"*) printf 'arn:aws:secretsmanager:eu-west-1:1:secret:x' ;;
  *"output -raw api_url"*) printf 'https://abcd.execute-api.eu-west-1.amazonaws.com/' ;;
  *" apply "*)
    # What a plain `terraform apply` reads besides -var: *.auto.tfvars in the directory.
    for f in ./*.auto.tfvars; do [ -f "$f" ] && sed 's/^/  auto: /' "$f" >> "$STUB_LOG"; done ;;
esac
exit 0
"""

STUB_AWS = """#!/bin/sh
echo "aws $*" >> "$STUB_LOG"
case "$*" in
  *"get-login-password"*) echo secret ;;
  *"describe-images"*) exit 254 ;;  # ImageNotFoundException: not pushed yet
esac
exit 0
"""

STUB_DOCKER = """#!/bin/sh
echo "docker $*" >> "$STUB_LOG"
cat >/dev/null 2>&1 || true
exit 0
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the script in a tree shaped like the repository, and stubs on PATH."""
    root = tmp_path / "repo"
    (root / "terraform" / "scripts").mkdir(parents=True)
    shutil.copy(DEPLOY, root / "terraform" / "scripts" / "deploy.sh")
    env_dir = root / "terraform" / "envs" / "dev"
    env_dir.mkdir(parents=True)
    (env_dir / "terraform.tfvars").write_text('region = "eu-west-1"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {
        "terraform": STUB_TERRAFORM,
        "aws": STUB_AWS,
        "docker": STUB_DOCKER,
    }.items():
        stub = bin_dir / name
        stub.write_text(text)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return root


def run_deploy(repo: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = repo.parent / "calls.log"
    environment = {
        "PATH": f"{repo.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(repo.parent),
        "STUB_LOG": str(log),
        "IMAGE_TAG": "abc123",
        **env,
    }
    result = subprocess.run(
        ["bash", str(repo / "terraform" / "scripts" / "deploy.sh")],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def applies(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("terraform") and " apply " in c]


@pytest.mark.parametrize("apply_args", ["", "-auto-approve", "-auto-approve -parallelism=4"])
def test_deploy_runs_with_or_without_apply_args(repo: Path, apply_args: str) -> None:
    result, calls = run_deploy(repo, TF_APPLY_ARGS=apply_args)
    assert result.returncode == 0, result.stderr
    assert len(applies(calls)) == 2
    for call in applies(calls):
        for arg in apply_args.split():
            assert f" {arg} " in f"{call} "
    pushes = [c for c in calls if c.startswith("docker buildx build")]
    assert len(pushes) == 4
    assert all(":abc123 " in p for p in pushes)


def test_deploy_leaves_the_tag_where_a_plain_apply_reads_it(repo: Path) -> None:
    """After `make deploy`, `terraform apply` alone must keep the pushed images."""
    result, calls = run_deploy(repo, TF_APPLY_ARGS="-auto-approve")
    assert result.returncode == 0, result.stderr
    written = repo / "terraform" / "envs" / "dev" / "image.auto.tfvars"
    assert written.is_file()
    assert 'image_tag = "abc123"' in written.read_text()
    # The final apply takes the tag from that file, as a later plain apply will.
    final = applies(calls)[-1]
    assert "image_tag" not in final
    assert '  auto: image_tag = "abc123"' in calls[calls.index(final) + 1 :]


def test_deploy_refuses_without_tfvars(repo: Path) -> None:
    (repo / "terraform" / "envs" / "dev" / "terraform.tfvars").unlink()
    result, calls = run_deploy(repo)
    assert result.returncode == 1
    assert "terraform.tfvars is missing" in result.stderr
    assert calls == []


def test_scripts_have_no_unguarded_array_expansions() -> None:
    assert script_problems() == []


@pytest.mark.parametrize(
    "line",
    [
        'terraform apply "${ARGS[@]}" -var x=1',
        "terraform apply ${ARGS[@]}",
        'echo "${ARGS[*]}"',
        'for a in "${ARGS[@]}"; do :; done',
    ],
)
def test_array_rule_flags_unguarded_expansion(line: str) -> None:
    assert unguarded_array_expansions(f"set -u\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        'terraform apply ${ARGS[@]+"${ARGS[@]}"} -var x=1',
        'echo "${#ARGS[@]}"',
        '# "${ARGS[@]}" in a comment',
        'echo "${ARGS}"',
    ],
)
def test_array_rule_accepts_guarded_expansion(line: str) -> None:
    assert unguarded_array_expansions(f"set -u\n{line}\n") == []


# --------------------------------------------------------------------------- issue 18


def test_deploy_builds_and_pushes_each_image_task_from_its_own_folder(repo: Path) -> None:
    """Item 3: Terraform makes a task-<name> repository for each image task whose
    examples/tasks/<name> has a Dockerfile and points its job definition there; deploy.sh
    pushes the image under the same tag before the final apply registers it."""
    result, calls = run_deploy(repo)
    assert result.returncode == 0, result.stderr
    (task,) = [c for c in calls if c.startswith("docker buildx build") and "task-" in c]
    assert f"-t {REGISTRY}/overlord-dev/task-wordcount:abc123 " in task
    assert " -f examples/tasks/wordcount/Dockerfile " in task
    assert task.endswith(" examples/tasks/wordcount")
    assert calls.index(task) < calls.index(applies(calls)[-1])


def _commit_tree(root: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    for path in ("contracts/tasks/echo.json", "requirements/product.txt", "README.md", "src/a.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("{}\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tree")


@pytest.mark.parametrize(
    "path", ["contracts/tasks/echo.json", "requirements/product.txt", "README.md", "src/a.py"]
)
def test_an_uncommitted_change_to_what_the_images_copy_gets_its_own_tag(
    repo: Path, path: str
) -> None:
    """Item 4: the images COPY contracts/, requirements/ and README.md too (and tasks.tf
    reads contracts/): a change there under the clean commit's immutable tag would be
    skipped as "already pushed", and Terraform register a task whose image lacks it."""
    _commit_tree(repo)
    result, _ = run_deploy(repo, IMAGE_TAG="")
    assert result.returncode == 0, result.stderr
    assert "-dirty-" not in result.stdout
    (repo / path).write_text("changed\n")
    result, _ = run_deploy(repo, IMAGE_TAG="")
    assert result.returncode == 0, result.stderr
    assert "-dirty-" in result.stdout, result.stdout


def _copied_paths(dockerfile: Path) -> set[str]:
    """The top-level paths of the build context a Dockerfile's COPY/ADD read."""
    found = set()
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0] not in ("COPY", "ADD"):
            continue
        if any(w.startswith("--from") for w in words):
            continue
        sources = [w for w in words[1:-1] if not w.startswith("--")]
        found |= {s.split("/")[0] for s in sources}
    return found


def test_the_dirty_tree_check_covers_every_path_the_images_copy() -> None:
    text = DEPLOY.read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("BUILD_INPUTS=(")]
    checked = set(line.removeprefix("BUILD_INPUTS=(").removesuffix(")").split())
    root = TERRAFORM.parent
    copied: set[str] = set()
    for dockerfile in ("services/submitter", "services/recorder", "batch-worker"):
        copied |= _copied_paths(root / dockerfile / "Dockerfile")
    assert {"contracts", "requirements", "README.md"} <= copied  # the parser reads them
    # Terraform reads contracts/ and examples/tasks/ (the image tasks it makes
    # repositories for), whose own images COPY from their folders.
    assert copied | {"contracts", "examples/tasks"} <= checked, checked
