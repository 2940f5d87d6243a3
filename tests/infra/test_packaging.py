"""The product wheel (what the Lambda and worker images install) holds the product only."""

from __future__ import annotations

import configparser
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


def test_the_product_wheel_declares_no_command_outside_the_product(tmp_path: Path) -> None:
    """Each entry point of the wheel names a module the wheel holds (the `overlord` CLI is
    the local stack's, declared in local/pyproject.toml)."""
    names = build_wheel(ROOT, tmp_path)
    ours = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")] or [None]
    if entry_points is None:
        return  # no entry points at all
    parser = configparser.ConfigParser()
    parser.read_string(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).read(entry_points).decode())
    targets = {
        name: value.split(":", 1)[0].strip()
        for section in parser.sections()
        for name, value in parser.items(section)
    }
    outside = {n: m for n, m in targets.items() if m.split(".", 1)[0] not in ours}
    assert outside == {}


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
        "local/Dockerfile",
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
