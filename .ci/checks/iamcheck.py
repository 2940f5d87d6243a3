"""Do the Terraform roles grant every AWS call the product makes? (docs/reliability.md)

`required(call)` maps one recorded call (tests/support/awscalls.py) to the IAM
permissions AWS checks for it: action and resource ARN, hidden requirements included.
`Policies` reads the role policies from terraform/ with python-hcl2 and resolves their
resource expressions for the deployment the call ran in (Terraform variables bound
from the settings the call saw, the way terraform/ wires them); `problems(calls)` lists
every permission no Allow statement of that component's role grants.

    python .ci/checks/iamcheck.py calls.jsonl   # exit 1 and a list on problems
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import terraformcheck as tf

DEPLOYMENT_TAG = "OverlordDeployment"  # overlord.services.submit.DEPLOYMENT_TAG
DEFAULT_DEPLOYMENT = "overlord"  # overlord.adapters.config.Settings.deployment
ACCOUNT = "123456789012"  # moto's account: the ARNs on both sides use it
PARTITION = "aws"
DEFAULT_REGION = "us-east-1"
EVENTS_QUEUE = "overlord-dev-batch-events"  # terraform/modules/events: "${var.name}-batch-events"

# component -> (module directory under terraform/modules, policy documents of its role)
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "submitter": ("functions", ("submitter", "common")),
    "recorder": ("functions", ("recorder", "common")),
    "reconcile": ("functions", ("reconcile", "common")),
    "worker": ("batch", ("job",)),
}


@dataclass(frozen=True)
class Permission:
    action: str
    resource: str
    why: str = ""
    # The request's condition keys a conditional statement is checked against, e.g.
    # ("aws:RequestTag/OverlordDeployment", "overlord-dev").
    context: tuple[tuple[str, str], ...] = ()


class Unresolved(ValueError):
    """A Terraform expression the resolver cannot evaluate (bind it in `bindings`)."""


# --------------------------------------------------------------------------- calls


def _s3(bucket: str, key: str | None = None) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _arn(service: str, region: str, rest: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{rest}"


def _batch_arn(region: str, kind: str, name: str) -> str:
    return name if name.startswith("arn:") else _arn("batch", region, f"{kind}/{name}")


def _queue_arn(queue_url: str, region: str) -> str:
    """An SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) as its ARN."""
    if queue_url.startswith("arn:"):
        return queue_url
    account, name = queue_url.rstrip("/").split("/")[-2:]
    return f"arn:{PARTITION}:sqs:{region}:{account}:{name}"


# What Lambda's pollers do with the function's execution role for an event source
# mapping on an SQS queue (AWS: "Lambda execution role permissions" for SQS, the
# AWSLambdaSQSQueueExecutionRole policy). No product code makes these calls, so the
# recorded calls never hold them: `mapping_calls` makes them from terraform/.
SQS_MAPPING_OPERATIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")


def required(call: dict[str, Any]) -> list[Permission]:
    """The IAM permissions AWS checks for one recorded call; Unresolved if unknown."""
    service, operation = call["service"], call["operation"]
    p: dict[str, Any] = call.get("params") or {}
    region = call.get("region") or DEFAULT_REGION
    match service, operation:
        case "s3", "GetObject" | "HeadObject":
            # HeadObject is authorised as s3:GetObject.
            needs = [Permission("s3:GetObject", _s3(p["Bucket"], p["Key"]))]
            if operation == "HeadObject" and call.get("status") == 404:
                # The code probes for a missing object and expects 404: without
                # s3:ListBucket on the bucket S3 answers 403 instead.
                needs.append(Permission("s3:ListBucket", _s3(p["Bucket"]), "404 for a missing key"))
            return needs
        case "s3", "PutObject":
            return [Permission("s3:PutObject", _s3(p["Bucket"], p["Key"]))]
        case "s3", "ListObjects" | "ListObjectsV2":
            return [Permission("s3:ListBucket", _s3(p["Bucket"]))]
        case "logs", "GetLogEvents":
            group, stream = p["logGroupName"], p["logStreamName"]
            return [
                Permission(
                    "logs:GetLogEvents",
                    _arn("logs", region, f"log-group:{group}:log-stream:{stream}"),
                )
            ]
        case "batch", "SubmitJob":
            needs = [
                Permission("batch:SubmitJob", _batch_arn(region, "job-queue", p["jobQueue"])),
                Permission(
                    "batch:SubmitJob", _batch_arn(region, "job-definition", p["jobDefinition"])
                ),
            ]
            if p.get("tags"):
                # Tags on submit are authorised against the job being created, with the
                # request's tags as aws:RequestTag/<key>.
                new_job = _arn("batch", region, "job/00000000-0000-0000-0000-000000000000")
                tags = tuple((f"aws:RequestTag/{k}", str(v)) for k, v in dict(p["tags"]).items())
                needs.append(
                    Permission("batch:TagResource", new_job, "SubmitJob with tags", context=tags)
                )
            return needs
        case "batch", "CancelJob" | "TerminateJob":
            # Authorised against the job (arn:…:job/<job id>) and its tags. The product
            # stops only runs it submitted (the ID comes from its own run record), which
            # carry the deployment tag SubmitJob sent (checked there, as RequestTag).
            deployment = _settings(call).get("OVERLORD_DEPLOYMENT") or DEFAULT_DEPLOYMENT
            return [
                Permission(
                    f"batch:{operation}",
                    _arn("batch", region, f"job/{p['jobId']}"),
                    context=((f"aws:ResourceTag/{DEPLOYMENT_TAG}", deployment),),
                )
            ]
        case "batch", "DescribeJobs" | "ListJobs":
            # AWS documents no resource-level permissions for these: only "*" grants them.
            return [Permission(f"batch:{operation}", "*")]
        case "sqs", "ReceiveMessage" | "DeleteMessage" | "GetQueueAttributes":
            return [Permission(f"sqs:{operation}", _queue_arn(p["QueueUrl"], region))]
        case "sqs", "DeleteMessageBatch":
            # Authorised as sqs:DeleteMessage, once for the batch.
            return [Permission("sqs:DeleteMessage", _queue_arn(p["QueueUrl"], region))]
        case "secretsmanager", "GetSecretValue":
            secret = p["SecretId"]
            if not secret.startswith("arn:"):
                secret = _arn("secretsmanager", region, f"secret:{secret}-AbCdEf")
            return [Permission("secretsmanager:GetSecretValue", secret)]
    raise Unresolved(f"no IAM mapping for {service}:{operation}; add it to iamcheck.required")


# --------------------------------------------------------------------------- expressions


def _split_top(text: str, sep: str = ",") -> list[str]:
    """`text` split on `sep` outside brackets and strings, parts stripped, empties dropped."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _whole_interpolation(text: str) -> str | None:
    """The expression of a string that is one `${...}` from end to end, else None."""
    if not text.startswith("${"):
        return None
    depth = 0
    for i, ch in enumerate(text[1:], 1):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return text[2:i].strip() if i == len(text) - 1 else None
    return None


class Scope:
    """Resolves Terraform expressions of one module against bound variables."""

    def __init__(self, doc: tf.Doc, bindings: dict[str, Any]) -> None:
        self.locals = tf.locals_of(doc)
        self.bindings = bindings

    def values(self, expr: Any) -> list[str]:
        """Every string an attribute value stands for (a list or an expression)."""
        if isinstance(expr, list):
            return [v for item in expr for v in self.values(item)]
        text = str(expr).strip()
        whole = _whole_interpolation(text)
        return self._expr(whole) if whole is not None else [self._template(text)]

    def _template(self, text: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            found = self._expr(match.group(1))
            if len(found) != 1:
                raise Unresolved(f"{match.group(0)} is a list inside a string")
            return found[0]

        return re.sub(r"\$\{([^{}]+)\}", substitute, text)

    def _expr(self, expr: str) -> list[str]:
        expr = expr.strip()
        if call := re.fullmatch(r"(concat|flatten)\((.*)\)", expr, re.S):
            return [v for arg in _split_top(call.group(2)) for v in self._expr(arg)]
        if comp := re.fullmatch(r"\[\s*for\s+(\w+)\s+in\s+([\w.]+)\s*:\s*(.*)\]", expr, re.S):
            name, source, body = comp.groups()
            out = []
            for value in self._expr(source):
                inner = Scope.__new__(Scope)
                inner.locals, inner.bindings = self.locals, {**self.bindings, name: value}
                out += inner._expr(body)
            return out
        if expr.startswith("[") and expr.endswith("]"):
            return [v for item in _split_top(expr[1:-1]) for v in self._expr(item)]
        if expr.startswith('"') and expr.endswith('"'):
            return [self._template(expr[1:-1])]
        if expr in self.bindings:
            bound = self.bindings[expr]
            return list(bound) if isinstance(bound, list | tuple) else [str(bound)]
        if expr.startswith("local.") and expr[6:] in self.locals:
            return self.values(self.locals[expr[6:]])
        raise Unresolved(f"cannot resolve {expr!r}: bind it in iamcheck.bindings")


# --------------------------------------------------------------------------- policies


def _settings(call: dict[str, Any]) -> dict[str, str]:
    return dict(call.get("settings") or {})


def catalogue_keys(directory: Path) -> list[str]:
    """The job definitions' contract names, one per catalogue file: overlord-<task>."""
    return sorted(f"overlord-{p.stem}" for p in directory.glob("*.json"))


def bindings(call: dict[str, Any], job_definition_keys: Iterable[str]) -> dict[str, Any]:
    """Terraform's variables for the deployment a call ran in.

    The product reads them from its environment, which Terraform sets from the same
    variables (functions `local.environment`, batch `local.worker_environment`); the
    rest are the module defaults and envs/dev's wiring.
    """
    s = _settings(call)
    region = call.get("region") or DEFAULT_REGION
    bucket = s.get("RESULTS_BUCKET", "overlord-results")
    queue = s.get("JOB_QUEUE", "overlord")
    # envs/dev: job_definition_names are "<prefix>overlord-<task>", one per catalogue file.
    prefix = s.get("JOB_DEFINITION_PREFIX", "")
    if s.get("OVERLORD_TASKS_DIR"):  # a catalogue with tasks added by a test
        job_definition_keys = catalogue_keys(Path(s["OVERLORD_TASKS_DIR"]))
    names = [f"{prefix}{k}" for k in job_definition_keys]
    return {
        "local.partition": PARTITION,
        "local.region": region,
        "local.account_id": ACCOUNT,
        "var.results_bucket_name": bucket,
        "var.results_bucket_arn": _s3(bucket),
        "var.job_queue_arn": _batch_arn(region, "job-queue", queue),
        "var.job_definition_names": names,
        "var.job_definition_prefix": prefix,
        "var.mongodb_secret_arn": s.get("MONGODB_SECRET_ARN", "(no secret configured)"),
        # envs/dev: the events module's queue, "<name>-batch-events".
        "var.recorder_queue_arn": _arn("sqs", region, s.get("EVENTS_QUEUE", EVENTS_QUEUE)),
        # functions: OVERLORD_DEPLOYMENT = var.name
        "var.name": s.get("OVERLORD_DEPLOYMENT") or DEFAULT_DEPLOYMENT,
        # batch module default; a deployment that reads other buckets lists them here.
        "var.input_bucket_arns": [],
    }


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` any one character."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.I if ignore_case else 0) is not None


_CONDITION_TESTS = {"StringEquals": False, "StringLike": True}


def _conditions_hold(
    conditions: list[dict[str, Any]], permission: Permission, scope: Scope
) -> bool:
    """Every condition block holds for the permission's request context (IAM: all
    blocks, any of a block's values). A key the context lacks, or a test not modelled
    here, does not hold: a conditional grant is only counted when it is known to apply."""
    context = dict(permission.context)
    for condition in conditions:
        test, key = str(condition.get("test")), str(condition.get("variable"))
        if test not in _CONDITION_TESTS or key not in context:
            return False
        values = scope.values(condition.get("values", []))
        like = _CONDITION_TESTS[test]
        if not any(_matches(v, context[key]) if like else v == context[key] for v in values):
            return False
    return True


class Policies:
    """The role policies of every component, read from terraform/."""

    def __init__(self, root: Path = tf.TERRAFORM) -> None:
        self.root = root

    @cached_property
    def docs(self) -> dict[str, tf.Doc]:
        return {d.name: doc for d, doc in tf.module_docs(self.root / "modules").items()}

    @cached_property
    def job_definition_keys(self) -> list[str]:
        return catalogue_keys(tf.TASKS)

    def statements(self, component: str) -> list[tuple[str, tf.Doc]]:
        """The unconditional statements of the component's role (dynamic ones depend on
        options such as a KMS key or a VPC and are not counted on)."""
        module, names = ROLES[component]
        return [
            (f"{module}/{where}", st)
            for where, st in tf.policy_statements(self.docs[module])
            if where.split(".")[0] in names and ".dynamic." not in where
        ]

    def scope(
        self, component: str, call: dict[str, Any], job_definition_keys: Iterable[str] | None = None
    ) -> Scope:
        """What the component's policy expressions mean for this call's settings."""
        module, _ = ROLES[component]
        keys = self.job_definition_keys if job_definition_keys is None else job_definition_keys
        scope = Scope(self.docs[module], bindings(call, keys))
        # The job log group is the batch module's, passed to the functions module.
        batch = Scope(self.docs["batch"], scope.bindings)
        scope.bindings["var.job_log_group_arn"] = batch.values("${local.log_group_arn}")[0]
        return scope

    def grants(self, component: str, permission: Permission, call: dict[str, Any]) -> bool:
        scope = self.scope(component, call)
        allowed = denied = False
        for _, st in self.statements(component):
            if not any(
                _matches(a, permission.action, ignore_case=True)
                for a in tf.literals(st.get("actions", []))
            ):
                continue
            if not _conditions_hold(st.get("condition", []), permission, scope):
                continue
            if any(_matches(r, permission.resource) for r in scope.values(st.get("resources", []))):
                if st.get("effect", "Allow") == "Deny":
                    denied = True
                else:
                    allowed = True
        return allowed and not denied


def mapping_calls(policies: Policies | None = None) -> list[dict[str, Any]]:
    """The calls Lambda makes with a function's role for each of its event source
    mappings in terraform/ (the SQS ones), as recorded calls of that component."""
    policies = policies or Policies()
    calls = []
    for module, doc in policies.docs.items():
        for _, name, body in tf.blocks(doc, "resource", "aws_lambda_event_source_mapping"):
            function = re.search(r'aws_lambda_function\.\w+\["(\w+)"\]', str(body["function_name"]))
            if function is None or function.group(1) not in ROLES:
                raise Unresolved(f"{module}: event source mapping {name}: which function?")
            source = str(body["event_source_arn"]).strip("${}")
            if source != "var.recorder_queue_arn":
                raise Unresolved(f"{module}: event source mapping {name}: source {source}")
            queue_url = f"https://sqs.{DEFAULT_REGION}.amazonaws.com/{ACCOUNT}/{EVENTS_QUEUE}"
            calls += [
                {
                    "component": function.group(1),
                    "service": "sqs",
                    "operation": operation,
                    "region": DEFAULT_REGION,
                    "params": {"QueueUrl": queue_url},
                    "settings": {},
                    "status": 200,
                    "on_behalf": f"{module}: event source mapping {name}",
                }
                for operation in SQS_MAPPING_OPERATIONS
            ]
    return calls


def problems(calls: Iterable[dict[str, Any]], policies: Policies | None = None) -> list[str]:
    """One line per (component, permission) a recorded call needs and its role lacks."""
    policies = policies or Policies()
    found: dict[str, None] = {}
    for call in calls:
        component = call.get("component")
        if not component:
            continue  # product code called directly by a test: no role to check against
        what = f"{component}: {call['service']}:{call['operation']}"
        if component not in ROLES:
            found[f"{what}: unknown component"] = None
            continue
        try:
            for permission in required(call):
                if not policies.grants(component, permission, call):
                    why = f" ({permission.why})" if permission.why else ""
                    found[f"{what} needs {permission.action} on {permission.resource}{why}"] = None
        except Unresolved as exc:
            found[f"{what}: {exc}"] = None
    return list(found)


def main(argv: Sequence[str]) -> int:
    sys.path.insert(0, str(tf.ROOT))
    from tests.support import awscalls

    calls = awscalls.read(argv[0])
    found = problems(calls)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(f"{len(calls)} recorded calls, every one granted")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
