"""Static checks of terraform/ (no terraform binary, no AWS account needed).

Each rule is a function taking one parsed HCL document and returning a list of
human-readable violations. The tests run every rule over the real tree (must
be clean) and over a small deliberately bad snippet (must be flagged), so a
rule that silently stops matching fails too.

Conventions checked here (see terraform/README.md):

* IAM policies are written as ``data "aws_iam_policy_document"`` blocks, never
  as JSON strings, so these rules can read them.
* No Allow statement grants the action ``*`` or ``<service>:*``.
* A statement with ``resources = ["*"]`` carries its justification twice: a
  ``# wildcard: <reason>`` comment inside the statement (for the reader) and a
  ``sid`` starting with ``AwsRequiresWildcard`` (survives into the deployed
  policy, for whoever audits the account).
* The Batch event rule's pattern is ``templatefile()`` of the shared
  ``batch-event-pattern.json``; job definitions are ``jsondecode(file())`` of the
  shared ``job-definitions.json``, one resource per entry via ``for_each``.
* No ``aws_secretsmanager_secret_version``: the MongoDB URI never enters state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from string import Template
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
CONTRACTS = ROOT / "contracts"
EVENT_PATTERN = CONTRACTS / "batch-event-pattern.json"
JOB_DEFINITIONS = CONTRACTS / "job-definitions.json"

WILDCARD_SID_PREFIX = "AwsRequiresWildcard"
WILDCARD_COMMENT = re.compile(r"^\s*wildcard:\s*\S")
BROAD_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:\*)$")

_OPTIONS = SerializationOptions(with_comments=True, strip_string_quotes=True)

Doc = dict[str, Any]


def parse(text: str) -> Doc:
    return hcl2.loads(text, serialization_options=_OPTIONS)


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


def module_docs() -> dict[Path, Doc]:
    """Every directory of .tf files, as one merged document per directory."""
    merged: dict[Path, Doc] = {}
    for path in tf_files():
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


def job_definitions_not_from_contract(doc: Doc, module_dir: Path) -> list[str]:
    found = []
    local_values = locals_of(doc)
    for _, name, body in blocks(doc, "resource", "aws_batch_job_definition"):
        where = f"aws_batch_job_definition.{name}"
        for_each = body.get("for_each")
        if not isinstance(for_each, str):
            found.append(f"{where}: not one resource per contract entry (no for_each)")
            continue
        expr = for_each
        ref = re.fullmatch(r"\$\{local\.(\w+)\}", for_each)
        if ref:
            expr = local_values.get(ref.group(1), "")
        if not expr.startswith("${jsondecode(file("):
            found.append(f"{where}: for_each is not jsondecode(file(...)) of the contract")
        elif _resolve(expr, module_dir) != JOB_DEFINITIONS.resolve():
            found.append(f"{where}: for_each does not read {JOB_DEFINITIONS.relative_to(ROOT)}")
    return found


Rule = Callable[..., list[str]]

DOC_RULES: list[Rule] = [
    broad_actions,
    unjustified_wildcard_resources,
    json_string_policies,
    secret_versions,
]
DIR_RULES: list[Rule] = [event_rules_not_from_shared_pattern, job_definitions_not_from_contract]


# --------------------------------------------------------------------------- the real tree


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    assert isinstance(parse(path.read_text()), dict)


def test_there_is_terraform_to_check() -> None:
    dirs = {p.relative_to(TERRAFORM).as_posix() for p in module_docs()}
    for expected in ("envs/dev", "modules/batch", "modules/events", "modules/secrets"):
        assert expected in dirs


@pytest.mark.parametrize("rule", DOC_RULES + DIR_RULES, ids=lambda r: r.__name__)
def test_tree_follows_rule(rule: Any) -> None:
    violations = []
    for module_dir, doc in module_docs().items():
        found = rule(doc, module_dir) if rule in DIR_RULES else rule(doc)
        violations += [f"{module_dir.relative_to(ROOT)}: {v}" for v in found]
    assert violations == []


def test_batch_event_rule_and_job_definitions_exist() -> None:
    """The two contract rules above pass vacuously if the blocks vanish: make sure they don't."""
    docs = module_docs()
    rules = [
        body
        for doc in docs.values()
        for _, _, body in blocks(doc, "resource", "aws_cloudwatch_event_rule")
        if "event_pattern" in body
    ]
    job_defs = [
        b for doc in docs.values() for b in blocks(doc, "resource", "aws_batch_job_definition")
    ]
    assert len(rules) == 1
    assert len(job_defs) == 1


def test_policies_are_policy_documents() -> None:
    """The IAM rules read aws_iam_policy_document: there must be some, with wildcards justified."""
    statements = [s for doc in module_docs().values() for _, s in policy_statements(doc)]
    assert len(statements) > 20
    assert any(str(s.get("sid", "")).startswith(WILDCARD_SID_PREFIX) for s in statements)


def test_shared_event_pattern_renders_like_the_local_router() -> None:
    """templatefile() and string.Template agree on `${job_queue_arn}`; AWS's pattern shape."""
    arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/overlord-dev"
    pattern = json.loads(Template(EVENT_PATTERN.read_text()).substitute(job_queue_arn=arn))
    assert pattern == {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {"jobQueue": [arn]},
    }
    # No other ${...} that templatefile would choke on or leave unrendered.
    assert re.findall(r"\$\{(\w+)\}", EVENT_PATTERN.read_text()) == ["job_queue_arn"]


def test_job_definitions_contract_has_what_terraform_reads() -> None:
    definitions = json.loads(JOB_DEFINITIONS.read_text())
    assert definitions
    for name, d in definitions.items():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name), name
        assert d["type"] == "container"
        props = d["containerProperties"]
        assert {r["type"] for r in props["resourceRequirements"]} >= {"VCPU", "MEMORY"}
        # Terraform owns these; the contract must not fight it.
        for key in ("image", "executionRoleArn", "jobRoleArn", "logConfiguration", "privileged"):
            assert key not in props, f"{name}: {key} is set by Terraform"
        assert d["retryStrategy"]["attempts"] >= 1
        assert d["timeout"]["attemptDurationSeconds"] >= 60


# --------------------------------------------------------------------------- each rule can fail

BAD_BROAD_ACTION = """
data "aws_iam_policy_document" "bad" {
  statement {
    actions   = ["s3:*"]
    resources = ["arn:aws:s3:::bucket/*"]
  }
}
"""

BAD_STAR_ACTION_IN_DYNAMIC = """
data "aws_iam_policy_document" "bad" {
  dynamic "statement" {
    for_each = [1]
    content {
      actions   = ["*"]
      resources = ["arn:aws:s3:::bucket/*"]
    }
  }
}
"""

BAD_WILDCARD_IN_CONCAT = """
data "aws_iam_policy_document" "bad" {
  statement {
    actions   = ["s3:GetObject"]
    resources = concat(["arn:aws:s3:::bucket/params/*"], ["*"])
  }
}
"""

GOOD_DENY_SERVICE_WIDE = """
data "aws_iam_policy_document" "ok" {
  statement {
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["arn:aws:s3:::bucket/*"]
  }
}
"""

BAD_WILDCARD_NO_COMMENT = """
data "aws_iam_policy_document" "bad" {
  statement {
    sid       = "AwsRequiresWildcardDescribeJobs"
    actions   = ["batch:DescribeJobs"]
    resources = ["*"]
  }
}
"""

BAD_WILDCARD_NO_SID = """
data "aws_iam_policy_document" "bad" {
  statement {
    # wildcard: batch:DescribeJobs has no resource-level permissions
    actions   = ["batch:DescribeJobs"]
    resources = ["*"]
  }
}
"""

GOOD_WILDCARD = """
data "aws_iam_policy_document" "ok" {
  statement {
    # wildcard: batch:DescribeJobs has no resource-level permissions
    sid       = "AwsRequiresWildcardDescribeJobs"
    actions   = ["batch:DescribeJobs"]
    resources = ["*"]
  }
}
"""

BAD_JSON_POLICY = """
resource "aws_iam_role_policy" "bad" {
  role = "r"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "s3:*", Resource = "*" }]
  })
}
"""

BAD_SECRET_VERSION = """
resource "aws_secretsmanager_secret" "this" {
  name = "x"
}
resource "aws_secretsmanager_secret_version" "this" {
  secret_id     = aws_secretsmanager_secret.this.id
  secret_string = var.mongodb_uri
}
"""

BAD_INLINE_PATTERN = """
resource "aws_cloudwatch_event_rule" "bad" {
  name          = "x"
  event_pattern = jsonencode({ source = ["aws.batch"] })
}
"""

BAD_PATTERN_WRONG_FILE = """
resource "aws_cloudwatch_event_rule" "bad" {
  name          = "x"
  event_pattern = templatefile("${path.module}/pattern.json", { job_queue_arn = var.q })
}
"""

GOOD_PATTERN = """
resource "aws_cloudwatch_event_rule" "ok" {
  name          = "x"
  event_pattern = templatefile("${path.module}/@CONTRACTS@/batch-event-pattern.json", {
    job_queue_arn = var.q
  })
}
"""

BAD_HARDCODED_JOB_DEFINITION = """
resource "aws_batch_job_definition" "bad" {
  name = "overlord-worker"
  type = "container"
  container_properties = jsonencode({ image = "x" })
}
"""

BAD_JOB_DEFINITIONS_FROM_VARIABLE = """
locals {
  job_definitions = var.job_definitions
}
resource "aws_batch_job_definition" "bad" {
  for_each = local.job_definitions
  name     = each.key
  type     = "container"
}
"""

GOOD_JOB_DEFINITIONS = """
locals {
  job_definitions = jsondecode(file("${path.module}/@CONTRACTS@/job-definitions.json"))
}
resource "aws_batch_job_definition" "ok" {
  for_each = local.job_definitions
  name     = each.key
  type     = each.value.type
}
"""

# A directory three levels below the repository root, like terraform/modules/x.
FAKE_MODULE_DIR = TERRAFORM / "modules" / "example"
CONTRACTS_FROM_MODULE = "../../../contracts"


@pytest.mark.parametrize(
    ("rule", "snippet"),
    [
        (broad_actions, BAD_BROAD_ACTION),
        (broad_actions, BAD_STAR_ACTION_IN_DYNAMIC),
        (unjustified_wildcard_resources, BAD_WILDCARD_NO_COMMENT),
        (unjustified_wildcard_resources, BAD_WILDCARD_NO_SID),
        (unjustified_wildcard_resources, BAD_WILDCARD_IN_CONCAT),
        (json_string_policies, BAD_JSON_POLICY),
        (secret_versions, BAD_SECRET_VERSION),
        (event_rules_not_from_shared_pattern, BAD_INLINE_PATTERN),
        (event_rules_not_from_shared_pattern, BAD_PATTERN_WRONG_FILE),
        (job_definitions_not_from_contract, BAD_HARDCODED_JOB_DEFINITION),
        (job_definitions_not_from_contract, BAD_JOB_DEFINITIONS_FROM_VARIABLE),
    ],
    ids=lambda x: x.__name__ if callable(x) else None,
)
def test_rule_flags_bad_snippet(rule: Any, snippet: str) -> None:
    doc = parse(snippet.replace("@CONTRACTS@", CONTRACTS_FROM_MODULE))
    found = rule(doc, FAKE_MODULE_DIR) if rule in DIR_RULES else rule(doc)
    assert found, f"{rule.__name__} missed:\n{snippet}"


@pytest.mark.parametrize(
    ("rule", "snippet"),
    [
        (broad_actions, GOOD_DENY_SERVICE_WIDE),
        (unjustified_wildcard_resources, GOOD_WILDCARD),
        (event_rules_not_from_shared_pattern, GOOD_PATTERN),
        (job_definitions_not_from_contract, GOOD_JOB_DEFINITIONS),
    ],
    ids=lambda x: x.__name__ if callable(x) else None,
)
def test_rule_accepts_good_snippet(rule: Any, snippet: str) -> None:
    doc = parse(snippet.replace("@CONTRACTS@", CONTRACTS_FROM_MODULE))
    found = rule(doc, FAKE_MODULE_DIR) if rule in DIR_RULES else rule(doc)
    assert found == []
