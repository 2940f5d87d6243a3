"""local/ferretdb/build.sh stops when a patch no longer applies (a new FerretDB release)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from overlord_local.devstack.processes import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "local" / "ferretdb"

pytestmark = pytest.mark.skipif(
    not (shutil.which("go") and shutil.which("git")), reason="needs Go and git"
)


def test_a_patch_that_does_not_apply_fails_the_build_naming_it(tmp_path: Path) -> None:
    tool = tmp_path / "ferretdb"
    (tool / "patches").mkdir(parents=True)
    for name in ("build.sh", "main.go", "go.mod", "go.sum"):
        shutil.copy2(SOURCE / name, tool / name)
    ours = (SOURCE / "patches" / "0001-push-down-id-with-other-keys.patch").read_text()
    # The release moved on: the lines the patch changes are not there any more.
    stale = ours.replace("-\tif params.Filter.Len() == 1 {", "-\tif params.Filter.Len() == 2 {")
    assert stale != ours
    (tool / "patches" / "0001-stale.patch").write_text(stale)

    out = tmp_path / "bin" / "ferretdb"
    out.parent.mkdir()
    done = subprocess.run(
        [str(tool / "build.sh"), str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    assert "0001-stale.patch does not apply" in done.stderr
    assert not out.exists()
