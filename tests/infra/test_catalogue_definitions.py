"""One catalogue, equal job definitions.

The one Python builder (`overlord_contracts.catalogue.job_definition`), as the local stack
uses it (`overlord_local.provision` and the local Batch's ``--tasks`` start-up), and
Terraform (`terraform/modules/batch/tasks.tf`, evaluated by `terraform console` on a copy
of the module; its wiring read with python-hcl2) each turn ``contracts/tasks/*.json`` into
RegisterJobDefinition requests. They must agree,
for the repository's catalogue and for one with a task added as a user adds it: one file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from terraformcheck import TERRAFORM, blocks, module_docs

from overlord_contracts import catalogue
from overlord_local import provision
from overlord_local.localbatch.__main__ import bootstrap, definitions_from, parse_args
from overlord_local.localbatch.executors import ProcessExecutor
from overlord_local.localbatch.service import LocalBatch
from tests.conftest import catalogue_copy

WORKER_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/overlord-worker:abc"
BATCH_MODULE = TERRAFORM / "modules" / "batch"
TERRAFORM_BIN = shutil.which("terraform")
# A task with its own size, timeout, attempts and exit codes, added as one file.
BIG = {
    "name": "render",
    "description": "A bigger task, added by a test",
    "parameters": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"frames": {"type": "integer", "minimum": 1}},
        "required": ["frames"],
    },
    "runs": {"image": "example.org/render:1.2", "command": ["/render", "--all"]},
    "vcpus": 2,
    "memory": 4096,
    "timeout_seconds": 14400,
    "attempts": 4,
    "no_retry_exit_codes": [2, 10, 3],
}

needs_terraform = pytest.mark.skipif(TERRAFORM_BIN is None, reason="no terraform binary")


def product_definitions(directory: Path) -> dict[str, dict[str, Any]]:
    tasks = catalogue.load(directory)
    generated = [catalogue.job_definition(t, worker_image=WORKER_IMAGE) for t in tasks.values()]
    return {d["jobDefinitionName"]: d for d in generated}


def local_batch_definitions(directory: Path) -> dict[str, dict[str, Any]]:
    """What the local Batch registers at start with ``--tasks`` (as DescribeJobDefinitions
    shows it), reduced to the request's fields."""
    args = parse_args(["--tasks", str(directory), "--worker-image", WORKER_IMAGE])
    batch = LocalBatch(ProcessExecutor(logs_client=object()))
    try:
        bootstrap(batch, [], 1, definitions_from(args))
        described = batch.describe_job_definitions({})["jobDefinitions"]
    finally:
        batch.shutdown()
    keys = ("jobDefinitionName", "type", "containerProperties", "retryStrategy", "timeout")
    return {
        d["jobDefinitionName"]: {**{k: d[k] for k in keys}, "propagateTags": d["propagateTags"]}
        for d in described
    }


def terraform_definitions(
    directory: Path, tmp_path: Path, task_images: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """tasks.tf evaluated by Terraform itself, on a copy laid out as in the repository
    (module three levels below the root, the catalogue in contracts/tasks)."""
    module = tmp_path / "terraform" / "modules" / "batch"
    module.mkdir(parents=True)
    shutil.copy(BATCH_MODULE / "tasks.tf", module / "tasks.tf")
    shutil.copytree(directory, tmp_path / "contracts" / "tasks")
    # The variables tasks.tf reads, declared as the module declares them.
    (module / "variables.tf").write_text(
        'variable "worker_image_uri" {\n  type = string\n}\n'
        'variable "task_images" {\n  type    = map(string)\n  default = {}\n}\n'
    )
    assert TERRAFORM_BIN is not None
    proc = subprocess.run(
        [
            TERRAFORM_BIN,
            "console",
            f"-var=worker_image_uri={WORKER_IMAGE}",
            f"-var=task_images={json.dumps(task_images or {})}",
        ],
        input="jsonencode(local.task_job_definitions)\n",
        cwd=module,
        capture_output=True,
        text=True,
        timeout=60,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    # console prints the string as an HCL quoted string, whose escapes JSON reads.
    evaluated: dict[str, dict[str, Any]] = json.loads(json.loads(proc.stdout.strip()))
    return evaluated


def test_the_batch_module_registers_what_tasks_tf_generates() -> None:
    """The resource's for_each and container properties come from tasks.tf's locals."""
    doc = module_docs()[BATCH_MODULE]
    ((_, _, resource),) = list(blocks(doc, "resource", "aws_batch_job_definition"))
    assert resource["for_each"] == "${local.job_definitions}"
    locals_ = {k: v for entry in doc["locals"] for k, v in entry.items()}
    assert locals_["job_definitions"] == "${local.task_job_definitions}"
    assert "fileset(local.tasks_dir" in locals_["tasks"]
    assert str(BATCH_MODULE.parent.parent.parent / "contracts" / "tasks") == str(
        (BATCH_MODULE / locals_["tasks_dir"].removeprefix("${path.module}/")).resolve()
    )
    variables = {k for entry in doc["variable"] for k in entry}
    assert {"worker_image_uri", "task_images"} <= variables


def test_product_and_local_stack_make_equal_definitions() -> None:
    directory = provision.tasks_dir()
    product = product_definitions(directory)
    assert sorted(product) == sorted(f"overlord-{p.stem}" for p in directory.glob("*.json"))
    assert provision.load_definitions(WORKER_IMAGE, directory) == product
    assert local_batch_definitions(directory) == product


@needs_terraform
def test_terraform_makes_the_same_definitions(tmp_path: Path) -> None:
    directory = provision.tasks_dir()
    assert terraform_definitions(directory, tmp_path) == product_definitions(directory)


def test_an_added_task_file_is_seen_by_every_generator(tmp_path: Path) -> None:
    directory = catalogue_copy(tmp_path / "tasks", BIG)
    product = product_definitions(directory)
    render = product["overlord-render"]
    assert render["containerProperties"] == {
        "image": "example.org/render:1.2",
        "command": ["/render", "--all"],
        "resourceRequirements": [
            {"type": "VCPU", "value": "2"},
            {"type": "MEMORY", "value": "4096"},
        ],
        "environment": [],
    }
    assert render["timeout"] == {"attemptDurationSeconds": 14400}
    assert render["retryStrategy"]["attempts"] == 4
    assert [r["onExitCode"] for r in render["retryStrategy"]["evaluateOnExit"]] == ["2", "10", "3"]
    assert provision.load_definitions(WORKER_IMAGE, directory) == product
    assert local_batch_definitions(directory) == product
    if TERRAFORM_BIN is not None:
        assert terraform_definitions(directory, tmp_path / "tf") == product


def test_an_image_override_is_applied_alike(tmp_path: Path) -> None:
    directory = catalogue_copy(tmp_path / "tasks", BIG)
    task = catalogue.load(directory)["render"]
    override = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/render:7"
    product = catalogue.job_definition(task, worker_image=WORKER_IMAGE, image=override)
    local = provision.load_definitions(WORKER_IMAGE, directory, {"render": override})
    assert local["overlord-render"] == product
    if TERRAFORM_BIN is not None:
        evaluated = terraform_definitions(directory, tmp_path / "tf", {"render": override})
        assert evaluated["overlord-render"] == product
    # A Python task keeps the worker image whatever is asked.
    echo = catalogue.load(directory)["echo"]
    assert catalogue.job_definition(echo, worker_image=WORKER_IMAGE, image=override)[
        "containerProperties"
    ]["image"] == (WORKER_IMAGE)


# ------------------------------------------------- issue 18, item 3: image tasks on AWS

ENV_DIR = TERRAFORM / "envs" / "dev"


def terraform_built_image_tasks(tasks: Path, examples: Path, tmp_path: Path) -> list[str]:
    """envs/dev/image_tasks.tf evaluated by Terraform on a copy laid out as the repository."""
    env = tmp_path / "terraform" / "envs" / "dev"
    env.mkdir(parents=True)
    shutil.copy(ENV_DIR / "image_tasks.tf", env / "image_tasks.tf")
    shutil.copytree(tasks, tmp_path / "contracts" / "tasks")
    shutil.copytree(examples, tmp_path / "examples" / "tasks")
    assert TERRAFORM_BIN is not None
    proc = subprocess.run(
        [TERRAFORM_BIN, "console"],
        input="jsonencode(local.built_image_tasks)\n",
        cwd=env,
        capture_output=True,
        text=True,
        timeout=60,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    built: list[str] = json.loads(json.loads(proc.stdout.strip()))
    return built


@needs_terraform
def test_terraform_builds_the_image_tasks_whose_source_is_here(tmp_path: Path) -> None:
    """wordcount (examples/tasks/wordcount/Dockerfile) is built; an image task without a
    folder here (its image pushed elsewhere, named in task_images) and Python tasks not."""
    root = TERRAFORM.parent
    tasks = catalogue_copy(tmp_path / "copy", BIG)
    assert terraform_built_image_tasks(tasks, root / "examples" / "tasks", tmp_path) == [
        "wordcount"
    ]


def test_the_image_tasks_terraform_builds_get_repositories_images_and_the_submitters_leave():
    env = module_docs()[ENV_DIR]
    modules = {name: body for entry in env["module"] for name, body in entry.items()}
    assert modules["batch"]["task_images"] == "${local.task_images}"
    assert modules["batch"]["task_repository_arns"] == "${local.task_repository_arns}"
    functions = modules["functions"]
    assert functions["image_task_repositories"] == "${local.built_image_tasks}"
    deployed = functions["deployed_task_images"]
    assert "local.built_image_tasks" in deployed and "keys(var.task_images)" in deployed
    locals_ = {k: v for entry in env["locals"] for k, v in entry.items()}
    assert 'repository_urls["task-${t}"]}:${var.image_tag}' in locals_["task_images"]
    assert "var.task_images" in locals_["task_images"]
    fn = module_docs()[TERRAFORM / "modules" / "functions"]
    fn_locals = {k: v for entry in fn["locals"] for k, v in entry.items()}
    assert (
        fn_locals["environment"]["TASK_IMAGES"] == "${jsonencode(sort(var.deployed_task_images))}"
    )
    assert '"task-${t}"' in fn_locals["repositories"]
