"""Static checks of terraform/ (no terraform binary, no AWS account needed).

Each rule is a function taking one parsed HCL document (all .tf files of one
directory merged) and returning a list of human-readable violations;
``DIR_RULES`` also take the directory, to resolve ``${path.module}`` paths.

Conventions checked here (see terraform/README.md):

* IAM policies are written as ``data "aws_iam_policy_document"`` blocks, never
  as JSON strings, so these rules can read them.
* No Allow statement grants the action ``*`` or ``<service>:*``.
* A statement with ``resources = ["*"]`` carries its justification twice: a
  ``# wildcard: <reason>`` comment inside the statement (for the reader) and a
  ``sid`` starting with ``AwsRequiresWildcard`` (survives into the deployed
  policy, for whoever audits the account).
* The Batch event rule's pattern is ``templatefile()`` of the shared
  ``batch-event-pattern.json``; job definitions come from the task catalogue,
  ``fileset()`` + ``jsondecode(file())`` of ``contracts/tasks``, one resource per
  task via ``for_each``.
* No ``aws_secretsmanager_secret_version``: the MongoDB URI never enters state.
* A variable's ``validation`` reads only that variable unless Terraform >= 1.9 is required.
* The shell scripts under ``terraform/scripts`` expand arrays only as
  ``${X[@]+"${X[@]}"}``: with ``set -u``, bash before 4.4 (macOS's /bin/bash 3.2)
  aborts on ``"${X[@]}"`` of an empty array ("unbound variable").

    python .ci/checks/terraformcheck.py [terraform-dir]   # exit 1 and a list on problems
"""

from __future__ import annotations

import copy
import functools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]  # .ci/checks/ -> the repository
TERRAFORM = ROOT / "terraform"
CONTRACTS = ROOT / "contracts"
EVENT_PATTERN = CONTRACTS / "batch-event-pattern.json"
TASKS = CONTRACTS / "tasks"

WILDCARD_SID_PREFIX = "AwsRequiresWildcard"
WILDCARD_COMMENT = re.compile(r"^\s*wildcard:\s*\S")
BROAD_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:\*)$")

_OPTIONS = SerializationOptions(with_comments=True, strip_string_quotes=True)

Doc = dict[str, Any]


def parse(text: str) -> Doc:
    return copy.deepcopy(_parsed(text))


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> Doc:
    """Parsing takes lark ~30 ms a file, and the checks and the test suite parse the
    same files hundreds of times (35 s of `make test`'s last step): once per text.
    `parse` hands out copies, so a caller that changes its document changes no other's."""
    return hcl2.loads(text, serialization_options=_OPTIONS)


def tf_files(root: Path = TERRAFORM) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def module_docs(root: Path = TERRAFORM) -> dict[Path, Doc]:
    """Every directory of .tf files, as one merged document per directory."""
    merged: dict[Path, Doc] = {}
    for path in tf_files(root):
        doc = parse(path.read_text())
        target = merged.setdefault(path.parent, {})
        for key, value in doc.items():
            target.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return merged


# --------------------------------------------------------------------------- walkers


def blocks(doc: Doc, kind: str, type_: str | None = None) -> Iterator[tuple[str, str, Doc]]:
    """Yield (type, name, body) for `resource`/`data` blocks, optionally of one type."""
    for entry in doc.get(kind, []):
        for block_type, named in entry.items():
            if type_ is not None and block_type != type_:
                continue
            for name, body in named.items():
                yield block_type, name, body


def policy_statements(doc: Doc) -> Iterator[tuple[str, Doc]]:
    """Every statement of every aws_iam_policy_document, static or dynamic."""
    for _, name, body in blocks(doc, "data", "aws_iam_policy_document"):
        for i, statement in enumerate(body.get("statement", [])):
            yield f"{name}.statement[{i}]", statement
        for dyn in body.get("dynamic", []):
            for dyn_name, dyn_body in dyn.items():
                if dyn_name != "statement":
                    continue
                for i, statement in enumerate(dyn_body.get("content", [])):
                    yield f"{name}.dynamic.statement[{i}]", statement


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not k.startswith("__"):
                yield from strings(v)


def locals_of(doc: Doc) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in doc.get("locals", []):
        out.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return out


def literals(value: Any) -> list[str]:
    """String literals of an attribute: list items, and quoted strings inside
    expressions such as concat([...], [...])."""
    out: list[str] = []
    for s in strings(value):
        if s.startswith("${") and s.endswith("}"):
            out += re.findall(r'"([^"$]*)"', s)
        else:
            out.append(s)
    return out


def _label(statement: Doc, where: str) -> str:
    return f"{where} (sid={statement.get('sid', '-')})"


def _is_allow(statement: Doc) -> bool:
    return statement.get("effect", "Allow") == "Allow"


# --------------------------------------------------------------------------- rules


def broad_actions(doc: Doc) -> list[str]:
    """Allow statements must name actions, never `*` or `service:*`.

    Deny statements may (e.g. deny every s3 call without TLS); `not_actions`
    in an Allow is a broad grant in disguise and is flagged too.
    """
    found = []
    for where, statement in policy_statements(doc):
        if not _is_allow(statement):
            continue
        for action in literals(statement.get("actions", [])):
            if BROAD_ACTION.match(action):
                found.append(f"{_label(statement, where)}: action {action!r}")
        if statement.get("not_actions"):
            found.append(f"{_label(statement, where)}: Allow with not_actions")
    return found


def unjustified_wildcard_resources(doc: Doc) -> list[str]:
    found = []
    for where, statement in policy_statements(doc):
        if "*" not in literals(statement.get("resources", [])):
            continue
        if not str(statement.get("sid", "")).startswith(WILDCARD_SID_PREFIX):
            found.append(
                f"{_label(statement, where)}: '*' resource without sid {WILDCARD_SID_PREFIX}..."
            )
        comments = [c.get("value", "") for c in statement.get("__comments__", [])]
        if not any(WILDCARD_COMMENT.match(c) for c in comments):
            found.append(
                f"{_label(statement, where)}: '*' resource without a '# wildcard: <reason>' comment"
            )
    return found


def json_string_policies(doc: Doc) -> list[str]:
    """Policies must be aws_iam_policy_document data sources, so the rules above see them."""
    found = []
    for type_, name, body in blocks(doc, "resource"):
        for key, value in body.items():
            if key.startswith("__"):
                continue
            if any(re.search(r"\bStatement\b", s) for s in strings(value)):
                found.append(f"{type_}.{name}.{key}: policy written as a JSON string")
    return found


def secret_versions(doc: Doc) -> list[str]:
    return [
        f"aws_secretsmanager_secret_version.{name}: the secret value would land in state"
        for _, name, _ in blocks(doc, "resource", "aws_secretsmanager_secret_version")
    ]


def _resolve(expr: str, module_dir: Path) -> Path | None:
    """Path of the first ${path.module}/... string inside `expr`, resolved."""
    match = re.search(r'"\$\{path\.module\}(/[^"]+)"', expr)
    if not match:
        return None
    return (module_dir / match.group(1).lstrip("/")).resolve()


def event_rules_not_from_shared_pattern(doc: Doc, module_dir: Path) -> list[str]:
    found = []
    for _, name, body in blocks(doc, "resource", "aws_cloudwatch_event_rule"):
        pattern = body.get("event_pattern")
        if pattern is None:
            continue  # schedule rule
        where = f"aws_cloudwatch_event_rule.{name}"
        if not (isinstance(pattern, str) and pattern.startswith("${templatefile(")):
            found.append(f"{where}: event_pattern is not templatefile(...)")
            continue
        if _resolve(pattern, module_dir) != EVENT_PATTERN.resolve():
            found.append(
                f"{where}: event_pattern is not rendered from {EVENT_PATTERN.relative_to(ROOT)}"
            )
        if "job_queue_arn" not in pattern:
            found.append(f"{where}: templatefile does not pass job_queue_arn")
    return found


def _locals_reached(expr: str, local_values: dict[str, str]) -> list[str]:
    """`expr` and every local it refers to, transitively."""
    seen: dict[str, str] = {}
    todo = re.findall(r"\blocal\.(\w+)", expr)
    while todo:
        name = todo.pop()
        if name in seen or name not in local_values:
            continue
        seen[name] = str(local_values[name])
        todo += re.findall(r"\blocal\.(\w+)", seen[name])
    return [expr, *seen.values()]


def _paths(expr: str, module_dir: Path) -> set[Path]:
    return {
        (module_dir / rel.lstrip("/")).resolve()
        for rel in re.findall(r"\$\{path\.module\}(/[^\"$]+)", expr)
    }


def job_definitions_not_from_contract(doc: Doc, module_dir: Path) -> list[str]:
    """One resource per catalogue file: for_each reaches fileset() + jsondecode(file())
    of contracts/tasks through locals, and nothing else feeds it a variable."""
    found = []
    local_values = locals_of(doc)
    for _, name, body in blocks(doc, "resource", "aws_batch_job_definition"):
        where = f"aws_batch_job_definition.{name}"
        for_each = body.get("for_each")
        if not isinstance(for_each, str):
            found.append(f"{where}: not one resource per catalogue file (no for_each)")
            continue
        reached = _locals_reached(for_each, local_values)
        if not any("fileset(" in e and "jsondecode(file(" in e for e in reached):
            found.append(f"{where}: for_each is not fileset() + jsondecode(file()) of files")
        elif TASKS.resolve() not in set().union(*(_paths(e, module_dir) for e in reached)):
            found.append(f"{where}: for_each does not read {TASKS.relative_to(ROOT)}")
    return found


# Terraform before 1.9 accepts only the variable itself in its validation block.
CROSS_VARIABLE_VALIDATION = (1, 9)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def minimum_terraform(doc: Doc) -> tuple[int, ...] | None:
    """Lowest Terraform version `required_version` admits; None when unconstrained."""
    lowest: tuple[int, ...] | None = None
    for block in doc.get("terraform", []):
        for constraint in str(block.get("required_version", "")).split(","):
            match = re.fullmatch(r"\s*(>=|~>|=|>)?\s*v?([\d.]+)\s*", constraint)
            if not match or match.group(1) not in (None, ">=", "~>", "=", ">"):
                continue
            version = _version(match.group(2))
            if lowest is None or version > lowest:
                lowest = version
    return lowest


def validations_reading_other_variables(doc: Doc) -> list[str]:
    """A variable's validation may name other variables only if Terraform >= 1.9 is required."""
    minimum = minimum_terraform(doc)
    if minimum is not None and minimum >= CROSS_VARIABLE_VALIDATION:
        return []
    found = []
    for entry in doc.get("variable", []):
        for name, body in entry.items():
            if name.startswith("__"):
                continue
            for validation in body.get("validation", []):
                others = sorted(
                    {
                        ref
                        for s in strings(validation)
                        for ref in re.findall(r"\bvar\.(\w+)", s)
                        if ref != name
                    }
                )
                if others:
                    required = ".".join(map(str, minimum)) if minimum else "any"
                    found.append(
                        f"variable.{name}: validation reads {', '.join('var.' + o for o in others)}"
                        f" (needs Terraform >= 1.9; required_version admits {required})"
                    )
    return found


# --------------------------------------------------------------------------- scripts

SCRIPTS = TERRAFORM / "scripts"
_GUARDED_ARRAY = re.compile(r'\$\{(\w+)\[([@*])\]\+"\$\{\1\[\2\]\}"\}')
_ARRAY_EXPANSION = re.compile(r"\$\{!?(\w+)\[[@*]\]")


def unguarded_array_expansions(text: str) -> list[str]:
    """`${X[@]}` / `${X[*]}` anywhere but inside the `${X[@]+"${X[@]}"}` guard.

    Bash < 4.4 with `set -u` treats an empty array as unset; the guard expands to
    nothing then. `${#X[@]}` (the length) is fine in every version.
    """
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        for match in _ARRAY_EXPANSION.finditer(_GUARDED_ARRAY.sub("", code)):
            found.append(
                f"line {number}: {match.group(0)}...}} without the "
                f'${{{match.group(1)}[@]+"${{{match.group(1)}[@]}}"}} guard '
                "(bash < 4.4 with set -u aborts on an empty array)"
            )
    return found


def script_problems(root: Path = TERRAFORM) -> list[str]:
    return [
        f"{path.relative_to(root.parent)}: {problem}"
        for path in sorted((root / "scripts").glob("*.sh"))
        for problem in unguarded_array_expansions(path.read_text())
    ]


Rule = Callable[..., list[str]]

DOC_RULES: list[Rule] = [
    broad_actions,
    unjustified_wildcard_resources,
    json_string_policies,
    secret_versions,
    validations_reading_other_variables,
]
DIR_RULES: list[Rule] = [event_rules_not_from_shared_pattern, job_definitions_not_from_contract]


def check(doc: Doc, module_dir: Path, rule: Rule) -> list[str]:
    """Run one rule, passing the directory to the rules that need it."""
    return rule(doc, module_dir) if rule in DIR_RULES else rule(doc)


def problems(root: Path = TERRAFORM) -> list[str]:
    """Every violation of every rule in every directory under `root`."""
    found = []
    for module_dir, doc in module_docs(root).items():
        for rule in DOC_RULES + DIR_RULES:
            found += [
                f"{module_dir.relative_to(root.parent)}: {rule.__name__}: {v}"
                for v in check(doc, module_dir, rule)
            ]
    return found + script_problems(root)


def main(argv: Sequence[str]) -> int:
    root = Path(argv[0]).resolve() if argv else TERRAFORM
    found = problems(root)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        dirs = len(module_docs(root))
        print(f"{root.name}: {len(tf_files(root))} files in {dirs} directories follow the rules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
