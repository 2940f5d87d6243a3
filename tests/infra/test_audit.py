"""The dependency audit's decisions (.ci/checks/audit.sh and audit_report.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci/checks/audit.sh"
_spec = importlib.util.spec_from_file_location("audit_report", ROOT / ".ci/checks/audit_report.py")
assert _spec and _spec.loader
audit_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit_report)

VULN = {"id": "PYSEC-2023-74", "fix_versions": ["2.31.0"], "aliases": [], "description": ""}


def test_a_known_vulnerability_fails():
    status, lines = audit_report.judge(
        {"dependencies": [{"name": "requests", "version": "2.25.0", "vulns": [VULN]}]}
    )
    assert status == 1 and "requests 2.25.0: PYSEC-2023-74 (fixed in 2.31.0)" in lines[0]


def test_clean_and_editable_pass():
    status, lines = audit_report.judge(
        {
            "dependencies": [
                {"name": "requests", "version": "2.32.0", "vulns": []},
                {"name": "overlord", "skip_reason": "distribution marked as editable"},
            ]
        }
    )
    assert status == 0 and lines == ["audit: 1 dependencies, no known vulnerability"]


def test_nothing_audited_is_a_warning_not_a_clean_bill():
    skipped = {"name": "boto3", "skip_reason": "Dependency not found on PyPI"}
    status, lines = audit_report.judge({"dependencies": [skipped]})
    assert status == 0 and "NOT audited" in lines[0]


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT)],
        env={**os.environ, "PIP_AUDIT": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pypi_unreachable_warns_and_passes(tmp_path):
    done = run_script(tmp_path, PIP_AUDIT_PROBE_URL="http://127.0.0.1:9/pypi/pip/json")
    assert done.returncode == 0, done.stderr
    assert "unreachable; dependencies NOT audited" in done.stderr


def test_every_ignored_id_needs_a_reason(tmp_path):
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("GHSA-xxxx-yyyy-zzzz  dev-only tool, never deployed  # ok\nPYSEC-2023-74\n")
    done = run_script(tmp_path, AUDIT_IGNORE_FILE=str(ignore))
    assert done.returncode == 2 and "PYSEC-2023-74 has no reason" in done.stderr
