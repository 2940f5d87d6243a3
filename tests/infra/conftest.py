"""Make the checkers these tests hold to their rules importable: they are CI tools and live
in .ci/checks/ (run by `make infra-checks` and the .ci/checks/*.sh wrappers beside them)."""

import sys
from pathlib import Path

CHECKS = str(Path(__file__).resolve().parents[2] / ".ci" / "checks")
if CHECKS not in sys.path:
    sys.path.insert(0, CHECKS)
