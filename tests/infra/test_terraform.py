"""terraform/ follows the rules of terraformcheck.py; each rule fails on a broken snippet.

The rules live in ``.ci/checks/terraformcheck.py`` (also runnable on its own,
see ``.ci/checks/terraform.sh``). Here: the real tree must be clean, every rule
must flag a deliberately bad snippet (so a rule that silently stops matching
fails too) and accept a good one, and the shared contract files have the shape
Terraform reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import Any

import pytest
from terraformcheck import (
    DIR_RULES,
    DOC_RULES,
    EVENT_PATTERN,
    ROOT,
    TERRAFORM,
    WILDCARD_SID_PREFIX,
    blocks,
    broad_actions,
    check,
    event_rules_not_from_shared_pattern,
    job_definitions_not_from_contract,
    json_string_policies,
    literals,
    locals_of,
    main,
    module_docs,
    parse,
    policy_statements,
    secret_versions,
    tf_files,
    unjustified_wildcard_resources,
    validations_reading_other_variables,
)

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
        found = check(doc, module_dir, rule)
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

BAD_JOB_DEFINITIONS_FROM_ANOTHER_FOLDER = """
locals {
  dir  = "${path.module}/@CONTRACTS@/elsewhere"
  defs = { for f in fileset(local.dir, "*.json") : f => jsondecode(file("${local.dir}/${f}")) }
}
resource "aws_batch_job_definition" "bad" {
  for_each = local.defs
  name     = each.key
  type     = "container"
}
"""

GOOD_JOB_DEFINITIONS = """
locals {
  tasks_dir = "${path.module}/@CONTRACTS@/tasks"
  tasks = {
    for f in fileset(local.tasks_dir, "*.json") : f => jsondecode(file("${local.tasks_dir}/${f}"))
  }
  job_definitions = { for k, t in local.tasks : "overlord-${k}" => t }
}
resource "aws_batch_job_definition" "ok" {
  for_each = local.job_definitions
  name     = each.key
  type     = each.value.type
}
"""

BAD_CROSS_VARIABLE_VALIDATION = """
terraform {
  required_version = ">= 1.5"
}
variable "azs" {
  type = list(string)
  validation {
    condition     = length(var.azs) >= length(var.subnet_cidrs)
    error_message = "One AZ per subnet."
  }
}
"""

GOOD_CROSS_VARIABLE_VALIDATION_ON_1_9 = """
terraform {
  required_version = ">= 1.9, < 2.0"
}
variable "azs" {
  type = list(string)
  validation {
    condition     = length(var.azs) >= length(var.subnet_cidrs)
    error_message = "One AZ per subnet."
  }
}
"""

GOOD_OWN_VARIABLE_VALIDATION = """
terraform {
  required_version = ">= 1.5"
}
variable "compute_type" {
  type = string
  validation {
    condition     = contains(["FARGATE", "EC2"], var.compute_type)
    error_message = "FARGATE or EC2."
  }
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
        (job_definitions_not_from_contract, BAD_JOB_DEFINITIONS_FROM_ANOTHER_FOLDER),
        (validations_reading_other_variables, BAD_CROSS_VARIABLE_VALIDATION),
    ],
    ids=lambda x: x.__name__ if callable(x) else None,
)
def test_rule_flags_bad_snippet(rule: Any, snippet: str) -> None:
    doc = parse(snippet.replace("@CONTRACTS@", CONTRACTS_FROM_MODULE))
    found = check(doc, FAKE_MODULE_DIR, rule)
    assert found, f"{rule.__name__} missed:\n{snippet}"


@pytest.mark.parametrize(
    ("rule", "snippet"),
    [
        (broad_actions, GOOD_DENY_SERVICE_WIDE),
        (unjustified_wildcard_resources, GOOD_WILDCARD),
        (event_rules_not_from_shared_pattern, GOOD_PATTERN),
        (job_definitions_not_from_contract, GOOD_JOB_DEFINITIONS),
        (validations_reading_other_variables, GOOD_CROSS_VARIABLE_VALIDATION_ON_1_9),
        (validations_reading_other_variables, GOOD_OWN_VARIABLE_VALIDATION),
    ],
    ids=lambda x: x.__name__ if callable(x) else None,
)
def test_rule_accepts_good_snippet(rule: Any, snippet: str) -> None:
    doc = parse(snippet.replace("@CONTRACTS@", CONTRACTS_FROM_MODULE))
    found = check(doc, FAKE_MODULE_DIR, rule)
    assert found == []


def test_command_line_passes_on_the_tree_and_fails_on_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 0
    bad = tmp_path / "terraform" / "modules" / "bad"
    bad.mkdir(parents=True)
    (bad / "main.tf").write_text(BAD_SECRET_VERSION)
    assert main([str(tmp_path / "terraform")]) == 1
    assert "secret_versions" in capsys.readouterr().err


# --------------------------------------------------------------------------- defaults that deploy


def _variables(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: body
        for entry in doc.get("variable", [])
        for name, body in entry.items()
        if not name.startswith("__")
    }


def test_lambdas_reserve_no_concurrency_by_default() -> None:
    """New accounts often have a concurrency quota of 10, and Lambda keeps 10 unreserved:
    any reservation by default fails CreateFunction/PutFunctionConcurrency there."""
    docs = module_docs()
    reservations = {
        f"{d.relative_to(TERRAFORM)}: var.{name}": body.get("default", "<required>")
        for d, doc in docs.items()
        for name, body in _variables(doc).items()
        if "reserved_concurrency" in name
    }
    assert len(reservations) >= 6  # submitter, recorder, reconcile in envs/dev and the module
    assert {k: v for k, v in reservations.items() if v is not None} == {}
    functions = docs[TERRAFORM / "modules" / "functions"]
    fn_locals = locals_of(functions)["functions"]
    for concurrency in re.findall(r"concurrency\s*=\s*([^\s,}]+)", str(fn_locals)):
        assert concurrency.startswith("var."), f"reserved concurrency fixed at {concurrency}"


def test_endpoints_only_layout_has_what_ec2_container_instances_need() -> None:
    """EC2/SPOT instances in private subnets without NAT register with ECS only through
    the ecs, ecs-agent and ecs-telemetry interface endpoints."""
    network = module_docs()[TERRAFORM / "modules" / "network"]
    text = json.dumps(network)
    for service in ("ecs", "ecs-agent", "ecs-telemetry"):
        assert f'"{service}"' in text.replace('\\"', '"'), service
    (env_network,) = (
        body
        for entry in module_docs()[TERRAFORM / "envs" / "dev"]["module"]
        for name, body in entry.items()
        if name == "network"
    )
    assert "batch_on_fargate" in str(env_network.get("ecs_instance_endpoints"))


def _resources(type_: str) -> list[dict[str, Any]]:
    return [body for doc in module_docs().values() for _, _, body in blocks(doc, "resource", type_)]


def test_compute_environment_uses_the_service_linked_role() -> None:
    """A service role created in the same apply may not have propagated when Batch
    validates it, leaving the environment INVALID (terraform-provider-aws #37945)."""
    (environment,) = _resources("aws_batch_compute_environment")
    assert "service_role" not in environment
    iam_roles = " ".join(str(b.get("assume_role_policy")) for b in _resources("aws_iam_role"))
    assert "service_assume" not in iam_roles


def test_job_definition_names_carry_the_environment() -> None:
    """Two environments in one account must not register revisions of one definition."""
    (definition,) = _resources("aws_batch_job_definition")
    assert re.fullmatch(r"\$\{var\.name\}-\$\{each\.key\}", definition["name"])
    functions = module_docs()[TERRAFORM / "modules" / "functions"]
    environment = locals_of(functions)["environment"]
    assert "JOB_DEFINITION_PREFIX" in environment


def test_the_submitter_counts_the_tags_the_job_definitions_carry() -> None:
    """Issue 18, item 1: Batch fails a job whose own and propagated definition tags exceed
    50, so the submitter caps a request's tags by JOB_DEFINITION_TAG_COUNT; it must count
    the tags the definitions really get (the same var.tags, given the same value)."""
    (definition,) = _resources("aws_batch_job_definition")
    assert definition["tags"] == "${var.tags}"
    functions = module_docs()[TERRAFORM / "modules" / "functions"]
    environment = locals_of(functions)["environment"]
    assert environment["JOB_DEFINITION_TAG_COUNT"] == "${tostring(length(var.tags))}"
    env = module_docs()[TERRAFORM / "envs" / "dev"]
    modules = {name: body for entry in env["module"] for name, body in entry.items()}
    assert modules["batch"]["tags"] == modules["functions"]["tags"]
    versions = (TERRAFORM / "envs" / "dev" / "versions.tf").read_text()
    assert "default_tags" not in versions  # they would reach the definitions uncounted


def test_account_wide_batch_log_group_is_not_created_or_destroyed_by_default() -> None:
    """/aws/batch/job is Batch's default group for the whole account and region."""
    defaults = {
        str(d.relative_to(TERRAFORM)): _variables(doc)[name].get("default")
        for d, doc in module_docs().items()
        for name in ("create_batch_log_group", "create_log_group")
        if name in _variables(doc)
    }
    assert defaults == {"envs/dev": False, "modules/batch": False}
    (group,) = (
        body
        for body in _resources("aws_cloudwatch_log_group")
        if "local.log_group_name" in str(body.get("name"))
    )
    assert group["lifecycle"][0]["prevent_destroy"] is True


def test_readme_variables_are_declared_where_operators_set_them() -> None:
    """A variable the READMEs tell operators to set must exist in envs/dev."""
    docs = module_docs()
    env = docs[TERRAFORM / "envs" / "dev"]
    env_vars = set(_variables(env))
    outputs = {n for entry in env.get("output", []) for n in entry if not n.startswith("__")}
    module_vars = {n for d, doc in docs.items() for n in _variables(doc)} - env_vars - outputs
    for readme in (TERRAFORM / "README.md", ROOT / "README.md"):
        mentioned = set(re.findall(r"`([a-z][a-z0-9_]+)(?: = [^`]*)?`", readme.read_text()))
        assert mentioned & env_vars, readme
        assert sorted(mentioned & module_vars) == [], f"{readme}: not settable in envs/dev"


# --------------------------------------------------------------------------- issue 18, item 9


def test_lifecycle_rule_filters_name_a_prefix() -> None:
    """An empty `filter {}` makes newer AWS providers warn (and may become an error):
    a rule for the whole bucket says `prefix = ""`."""
    storage = module_docs()[TERRAFORM / "modules" / "storage"]
    (config,) = [
        b for _, _, b in blocks(storage, "resource", "aws_s3_bucket_lifecycle_configuration")
    ]
    filters = [f for rule in config["rule"] for f in rule.get("filter", [])]
    assert filters
    assert all("prefix" in f for f in filters), filters


def _api_routes() -> list[str]:
    api = module_docs()[TERRAFORM / "modules" / "api"]
    return re.findall(r'"([A-Z]+ /[^"]*|\$default)"', locals_of(api)["routes"])


def test_readme_counts_the_api_routes() -> None:
    text = (TERRAFORM / "README.md").read_text()
    (said,) = re.findall(r"(\d+) routes", text)
    assert int(said) == len([r for r in _api_routes() if r != "$default"])


def test_readme_iam_table_names_every_action_of_each_lambda_role() -> None:
    """The table operators read to review least privilege lists what the role holds."""
    functions = module_docs()[TERRAFORM / "modules" / "functions"]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| (\w+) \| (.*) \|$", (TERRAFORM / "README.md").read_text(), re.M)
    }
    missing = []
    for role in ("submitter", "recorder", "reconcile"):
        for where, statement in policy_statements(functions):
            if where.split(".")[0] != role:
                continue
            for action in literals(statement.get("actions", [])):
                if f"`{action}`" not in rows.get(
                    role, ""
                ) and f"`{action.split(':')[1]}`" not in rows.get(role, ""):
                    missing.append(f"{role}: {action}")
    assert missing == []


def test_the_api_has_a_default_route_with_iam_auth_and_the_local_gateway_the_same_routes() -> None:
    """Unknown routes reach the submitter (problem+json 404) instead of API Gateway's own
    404; the local gateway (apigateway/payload.py) routes exactly as the deployed API."""
    from overlord_local.apigateway.payload import DEFAULT_ROUTE, ROUTES

    routes = _api_routes()
    assert "$default" in routes
    assert sorted(routes) == sorted([f"{m} {p}" for m, p in ROUTES] + [DEFAULT_ROUTE])
    api = module_docs()[TERRAFORM / "modules" / "api"]
    (route,) = [b for _, _, b in blocks(api, "resource", "aws_apigatewayv2_route")]
    assert route["authorization_type"] == "AWS_IAM"


def test_no_submitter_outlives_its_claim() -> None:
    """A submitter stalled past its claim's lease could submit a job that a retry has
    taken over meanwhile (two Batch jobs for one input): the Lambda's timeout, and the
    largest one the variable accepts, stay under CLAIM_LEASE (the simulator's
    `post_begins` relies on it)."""
    from overlord.services.submit import CLAIM_LEASE

    functions = module_docs()[TERRAFORM / "modules" / "functions"]
    variable = _variables(functions)["submitter_timeout"]
    lease = int(CLAIM_LEASE.total_seconds())
    assert variable["default"] < lease
    (validation,) = variable["validation"]
    assert validation["condition"] == f"${{var.submitter_timeout < {lease}}}"
