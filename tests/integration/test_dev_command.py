"""`overlord dev` refusing to start, clearly, when it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def test_no_mongodb_no_ferretdb_no_go_fails_at_once_naming_the_fixes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "env"):  # a PATH with the basics, but no go and no ferretdb
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    env = {
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PATH": str(bin_dir),
        "OVERLORD_TOOLS_BIN": str(tmp_path / "tools"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "overlord_local.cli",
            "dev",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    message = proc.stderr
    assert "no MongoDB available" in message
    for fix in ("MONGODB_URI", "install Go", "FERRETDB_BIN"):
        assert fix in message
    assert not Path(tmp_path / "state" / "dev.env").exists()
