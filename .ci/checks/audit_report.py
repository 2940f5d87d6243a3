"""Judge pip-audit's JSON report: exit 1 on a known vulnerability, 0 otherwise.

An audit that checked nothing (every dependency skipped: the vulnerability service
answered for none of them) is reported as a warning, not as a clean bill.

    python audit_report.py REPORT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def judge(report: dict) -> tuple[int, list[str]]:
    lines: list[str] = []
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason") and "editable" not in d["skip_reason"]]
    audited = [d for d in deps if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            lines.append(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        lines.append("audit: upgrade, or list the ID with a reason in .ci/checks/audit-ignore.txt")
        return 1, lines
    if skipped and not audited:
        lines.append(
            f"audit: WARNING: the vulnerability service answered for none of {len(skipped)} "
            "dependencies; NOT audited"
        )
        return 0, lines
    lines.append(f"audit: {len(audited)} dependencies, no known vulnerability")
    if skipped:
        names = ", ".join(d["name"] for d in skipped)
        lines.append(f"audit: WARNING: not audited: {names}")
    return 0, lines


def main(argv: list[str]) -> int:
    status, lines = judge(json.loads(Path(argv[1]).read_text()))
    print("\n".join(lines), file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
