"""The product wheel (what the Lambda and worker images install) holds the product only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(project: Path, into: Path) -> list[str]:
    """The names in the wheel of `project` (a folder holding a pyproject.toml)."""
    # the build backend itself (the [test] extra has it): the venv, made by uv, has no pip
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(into)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    [wheel] = into.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_product_wheel_carries_no_emulator(tmp_path: Path) -> None:
    names = build_wheel(ROOT, tmp_path)
    packages = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    assert packages == {"overlord", "overlord_submitter", "overlord_recorder", "overlord_worker"}
    assert not [n for n in names if "overlord_local" in n or "localbatch" in n]


def test_the_contracts_wheel_carries_the_contract_files(tmp_path: Path) -> None:
    names = build_wheel(ROOT / "contracts", tmp_path)
    packages = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    assert packages == {"overlord_contracts"}
    assert "overlord_contracts/batch-event-pattern.json" in names
    tasks = {n for n in names if n.startswith("overlord_contracts/tasks/")}
    assert tasks == {
        f"overlord_contracts/tasks/{p.name}" for p in (ROOT / "contracts" / "tasks").glob("*.json")
    }


def test_the_images_install_the_contracts() -> None:
    for dockerfile in (
        "services/submitter/Dockerfile",
        "services/recorder/Dockerfile",
        "batch-worker/Dockerfile",
        "devtools/Dockerfile",
    ):
        text = (ROOT / dockerfile).read_text()
        assert "COPY contracts ./contracts" in text, dockerfile
        assert "./contracts" in next(
            line for line in text.splitlines() if "pip install --no-deps" in line
        ), dockerfile


def test_the_product_images_copy_no_local_stack() -> None:
    for dockerfile in (
        "services/submitter/Dockerfile",
        "services/recorder/Dockerfile",
        "batch-worker/Dockerfile",
    ):
        copies = [
            line
            for line in (ROOT / dockerfile).read_text().splitlines()
            if line.startswith("COPY ")
        ]
        assert copies and not [c for c in copies if "local" in c.split()[1:-1]], dockerfile
