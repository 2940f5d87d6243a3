"""The Go tools the local stack uses, found or built into `.tools/bin` on first use.

    python -m overlord_local.devstack.gotools ferretdb aws-lambda-rie   # what `make tools` runs

Each tool is looked up as: its environment variable, `.tools/bin` (or
`OVERLORD_TOOLS_BIN`), PATH; when none has it and Go is installed, it is built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from overlord_local.devstack.processes import PROJECT_ROOT

RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"  # what @latest resolved to, pinned


class ToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class GoTool:
    name: str
    env_var: str
    source: str  # a folder of this repository (go build) or module@version (go install)

    def build(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if "@" in self.source:
            command, cwd = ["go", "install", self.source], None
        else:
            command, cwd = (
                ["go", "build", "-o", str(out_dir / self.name), "."],
                PROJECT_ROOT / self.source,
            )
        env = {**os.environ, "GOBIN": str(out_dir)}
        print(f"building {self.name} with Go (once) …", file=sys.stderr, flush=True)
        subprocess.run(command, cwd=cwd, env=env, check=True)


FERRETDB = GoTool("ferretdb", "FERRETDB_BIN", "tools/ferretdb")
RIE = GoTool("aws-lambda-rie", "AWS_LAMBDA_RIE_BIN", f"{RIE_MODULE}@{RIE_VERSION}")
TOOLS = {tool.name: tool for tool in (FERRETDB, RIE)}


def tools_bin() -> Path:
    return Path(os.environ.get("OVERLORD_TOOLS_BIN") or PROJECT_ROOT / ".tools" / "bin")


def find(tool: GoTool) -> Path | None:
    for candidate in (
        os.environ.get(tool.env_var),
        tools_bin() / tool.name,
        shutil.which(tool.name),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def ensure(tool: GoTool) -> Path:
    """The tool's path, building it with Go when it is nowhere to be found."""
    found = find(tool)
    if found:
        return found
    if not shutil.which("go"):
        raise ToolMissing(
            f"{tool.name} not found ({tool.env_var}, {tools_bin()}, PATH) and Go is not "
            "installed to build it"
        )
    tool.build(tools_bin())
    return tools_bin() / tool.name


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        print(f"unknown tools: {', '.join(unknown)}; known: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    for name in names or list(TOOLS):
        print(ensure(TOOLS[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
