"""The product wheel (what the Lambda and worker images install) holds the product only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_product_wheel_carries_no_emulator_and_the_contracts(tmp_path: Path) -> None:
    # the build backend itself (the [test] extra has it): the venv, made by uv, has no pip
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("overlord-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    assert packages == {"overlord", "overlord_submitter", "overlord_recorder", "overlord_worker"}
    assert not [n for n in names if "overlord_local" in n or "localbatch" in n]
    assert "overlord/contracts/batch-event-pattern.json" in names
    assert any(n.startswith("overlord/contracts/") and n.endswith(".json") for n in names)


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
