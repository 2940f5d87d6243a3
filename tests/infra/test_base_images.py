"""Base images: one upstream default per variable, stand-ins that never take an upstream
name, locks that match what they stand in for, and the images' requirements exported
from uv.lock as they are now."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from composecheck import BASE_IMAGE_VARIABLES
from dockerfilecheck import DOCKERFILES, hadolint, parse

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "local" / "base-images"
COMPOSE = (ROOT / "compose.yaml").read_text()
STAND_INS = ["python", "lambda", "mongo", "localstack", "golang", "static"]


def compose_default(variable: str) -> str:
    found = re.findall(r"\$\{" + variable + r":-([^}]+)\}", COMPOSE)
    assert found, f"compose.yaml has no ${{{variable}:-…}}"
    assert len(set(found)) == 1, f"{variable} has several defaults: {found}"
    return found[0]


@pytest.mark.parametrize("rel", sorted(DOCKERFILES))
def test_dockerfile_base_defaults_are_compose_defaults(rel: str) -> None:
    args = [i.args for i in parse((ROOT / rel).read_text()) if i.keyword == "ARG"]
    bases = [a.partition("=") for a in args if a.endswith("IMAGE") or "IMAGE=" in a]
    assert bases, f"{rel}: no base image ARG"
    for name, _, default in bases:
        assert default == compose_default(name), (rel, name)


def test_upstream_defaults_are_upstream_names() -> None:
    assert compose_default("PYTHON_IMAGE").startswith("python:3.12.")
    assert compose_default("LAMBDA_PYTHON_IMAGE").startswith("public.ecr.aws/lambda/python:3.12.")
    assert compose_default("MONGO_IMAGE").startswith("mongo:7.")
    assert compose_default("LOCALSTACK_IMAGE").startswith("localstack/localstack:")
    assert compose_default("GOLANG_IMAGE").startswith("golang:1.")
    assert compose_default("DISTROLESS_STATIC_IMAGE").startswith("gcr.io/distroless/static-")


def test_every_base_image_variable_is_wired_through() -> None:
    """A base image in compose.yaml has a stand-in (build.sh), reaches compose from make
    (mk/docker.mk exports it) and is reset to its default by the compose check."""
    in_compose = set(re.findall(r"\$\{(\w+_IMAGE):-", COMPOSE))
    assert in_compose == set(BASE_IMAGE_VARIABLES)
    script = (BASE / "build.sh").read_text()
    listed = re.search(r"^VARIABLES=\(([^)]*)\)", script, flags=re.MULTILINE)
    assert listed and set(listed[1].split()) == in_compose
    makefile = (ROOT / "mk" / "docker.mk").read_text().replace("\\\n", " ")
    [exports] = [line for line in makefile.splitlines() if line.startswith("export IMAGE_TAG")]
    assert in_compose <= set(exports.split())


def test_stand_ins_are_named_overlord_base_only() -> None:
    script = (BASE / "build.sh").read_text()
    assert "docker tag" not in script
    tags = set(re.findall(r"\boverlord-base/[\w-]+", script))
    assert tags >= {f"overlord-base/{n}" for n in ("python", "lambda-python", "mongo-ferretdb")}
    assert "overlord-base/localstack" in tags
    for line in script.splitlines():
        if "-t " in line and "docker build" in line:
            assert '-t "$tag"' in line  # every tag is computed as overlord-base/…


def test_localstack_lock_is_the_compose_version() -> None:
    version = compose_default("LOCALSTACK_IMAGE").rsplit(":", 1)[1]
    lock = (BASE / "localstack" / "requirements.lock").read_text()
    assert f"\nlocalstack-core=={version} \\" in lock
    # every pin carries a hash (pip --require-hashes in the Dockerfile)
    lines = lock.splitlines()
    pins = [i for i, line in enumerate(lines) if re.match(r"^[a-z0-9][\w.-]*==", line)]
    assert len(pins) > 50
    assert all(lines[i + 1].startswith("    --hash=sha256:") for i in pins)


@pytest.mark.parametrize("name", STAND_INS)
def test_stand_in_dockerfiles_pass_hadolint(name: str) -> None:
    if not shutil.which("hadolint") and not Path(ROOT / ".venv/bin/hadolint").exists():
        pytest.skip("hadolint not installed")
    rc, output = hadolint(BASE / name / "Dockerfile")
    assert rc == 0, output


def _uv() -> str | None:
    local = ROOT / ".tools" / "uv" / "bin" / "uv"
    return str(local) if local.is_file() else shutil.which("uv")


@pytest.mark.parametrize(
    ("package", "exported"),
    [("overlord", "requirements/product.txt"), ("overlord-local", "requirements/local.txt")],
)
def test_image_requirements_are_exported_from_the_lock(package: str, exported: str) -> None:
    uv = _uv()
    if not uv:
        pytest.skip("uv not installed (make setup fetches it into .tools/uv)")
    result = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-workspace", "--package", package],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    def body(text: str) -> str:  # without the header naming the command
        return "\n".join(line for line in text.splitlines() if not line.startswith("#    uv "))

    assert body(result.stdout) == body((ROOT / exported).read_text()), "run `make lock`"


def test_build_script_reads_only_files_that_exist() -> None:
    """Every file of this repository that build.sh names ("$ROOT"/… or $ROOT/…) is there.
    Only CI's base-images stage runs the script, so a moved folder (tools/ferretdb →
    local/ferretdb) would otherwise break CI alone."""
    script = (BASE / "build.sh").read_text()
    named = set(re.findall(r'"?\$ROOT"?/([A-Za-z0-9_./*-]+)', script))
    named = {n for n in named if not n.startswith(".tools/")}  # what it writes
    assert named, "build.sh names no file under $ROOT"
    missing = [n for n in sorted(named) if not list(ROOT.glob(n.rstrip("/")))]
    assert missing == []
