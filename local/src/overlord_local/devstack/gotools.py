"""The Go tools the local stack uses, found or built into `.tools/bin` on first use.

    python -m overlord_local.devstack.gotools ferretdb aws-lambda-rie   # what `make tools` runs

Each tool is looked up as: its environment variable (taken as it is), then `.tools/bin`
(or `OVERLORD_TOOLS_BIN`) if the binary there was built from the current sources; else,
when Go is installed, it is built there. Only without Go does an older `.tools/bin`
binary, or one on PATH, stand in (with a warning: it may lack our FerretDB patch).

"Current" is a stamp beside the binary (`<name>.stamp`): a hash of what it is built
from (the tool's folder files, or module@version), so editing local/ferretdb (its
version, main.go, a patch) rebuilds it on the next use.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from overlord_local.devstack.processes import PROJECT_ROOT

RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"  # what @latest resolved to, pinned
# What a folder tool is built from; its build.sh builds it (local/ferretdb/build.sh).
FOLDER_INPUTS = ("build.sh", "main.go", "go.mod", "go.sum", "patches/*.patch")


class ToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class GoTool:
    name: str
    env_var: str
    # a folder of this repository (built by its build.sh), or module@version (go install)
    source: str

    @property
    def folder(self) -> Path | None:
        return None if "@" in self.source else PROJECT_ROOT / self.source

    def key(self) -> str:
        """A hash of what the binary is built from."""
        digest = hashlib.sha256()
        if self.folder is None:
            digest.update(self.source.encode())
            return digest.hexdigest()
        for pattern in FOLDER_INPUTS:
            for path in sorted(self.folder.glob(pattern)):
                digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def build(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        print(f"building {self.name} with Go …", file=sys.stderr, flush=True)
        if self.folder is None:
            env = {**os.environ, "GOBIN": str(out_dir)}
            subprocess.run(["go", "install", self.source], env=env, check=True)
        else:
            subprocess.run([str(self.folder / "build.sh"), str(out_dir / self.name)], check=True)
        stamp(self, out_dir).write_text(self.key() + "\n")


FERRETDB = GoTool("ferretdb", "FERRETDB_BIN", "local/ferretdb")
RIE = GoTool("aws-lambda-rie", "AWS_LAMBDA_RIE_BIN", f"{RIE_MODULE}@{RIE_VERSION}")
# The GitHub workflows' linter (tests/infra: test_ci_workflow, test_ci_stack_script), so
# that CI checks the workflows instead of skipping for want of it.
ACTIONLINT = GoTool(
    "actionlint", "ACTIONLINT_BIN", "github.com/rhysd/actionlint/cmd/actionlint@v1.7.7"
)
TOOLS = {tool.name: tool for tool in (FERRETDB, RIE, ACTIONLINT)}


def tools_bin() -> Path:
    return Path(os.environ.get("OVERLORD_TOOLS_BIN") or PROJECT_ROOT / ".tools" / "bin")


def stamp(tool: GoTool, out_dir: Path) -> Path:
    return out_dir / f"{tool.name}.stamp"


def _executable(candidate: str | Path | None) -> bool:
    if not candidate:
        return False
    path = Path(candidate)
    return path.is_file() and os.access(path, os.X_OK)


def is_current(tool: GoTool, out_dir: Path) -> bool:
    """The binary in `out_dir` was built from the sources as they are now."""
    try:
        built_from = stamp(tool, out_dir).read_text().strip()
    except OSError:
        return False
    return _executable(out_dir / tool.name) and built_from == tool.key()


def find(tool: GoTool) -> Path | None:
    """The tool without building it: its environment variable, or a current `.tools/bin` one."""
    explicit = os.environ.get(tool.env_var)
    if explicit and _executable(explicit):
        return Path(explicit)
    if is_current(tool, tools_bin()):
        return tools_bin() / tool.name
    return None


def _stand_in(tool: GoTool) -> Path | None:
    """Without Go: an older `.tools/bin` build, else one on PATH."""
    for candidate in (tools_bin() / tool.name, shutil.which(tool.name)):
        if _executable(candidate):
            return Path(str(candidate))
    return None


def ensure(tool: GoTool) -> Path:
    """The tool's path, building it with Go when no current build is found."""
    found = find(tool)
    if found:
        return found
    if not shutil.which("go"):
        stand_in = _stand_in(tool)
        if stand_in is None:
            raise ToolMissing(
                f"{tool.name} not found ({tool.env_var}, {tools_bin()}, PATH) and Go is not "
                "installed to build it"
            )
        print(
            f"warning: using {stand_in}, not built from {tool.source} as it is now "
            "(install Go to rebuild it)",
            file=sys.stderr,
        )
        return stand_in
    out_dir = tools_bin()
    out_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time (parallel test sessions, `make dev` beside `make test`): the
    # others wait, then find the binary current.
    with open(out_dir / f".{tool.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_current(tool, out_dir):
            tool.build(out_dir)
    return out_dir / tool.name


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
