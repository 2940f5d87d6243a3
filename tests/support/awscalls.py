"""Record every AWS API call the product makes while the tests run (docs/reliability.md).

`install(path)` wraps botocore's `Session.create_client`, so every client created
afterwards, by boto3's default session or any other, reports each call to this module:
`before-parameter-build` captures the caller's parameters and the calling stack (the
same request as `before-call`, before serialisation, so Bucket/Key are still named),
`after-call` / `after-call-error` add the HTTP status and error code, and one JSON line
per call is appended to `path`.

Only calls made by product code are kept: the innermost frame outside botocore and
boto3 must belong to a product module (`overlord`, `overlord_submitter`,
`overlord_recorder`, `overlord_worker`). The tests' own clients (moto set-up, reading
back) and the local stack's are not recorded. Which component made the call comes from
the stack (the handler or worker module on it), else from the environment the way AWS
sets it (AWS_LAMBDA_FUNCTION_NAME, POWERTOOLS_SERVICE_NAME, OVERLORD_TASK for the
worker).

Subprocesses (the worker run by the local Batch, `overlord dev`) load it through
``tests/support/awscalls_site/sitecustomize.py`` when ``TEST_AWS_CALL_LOG`` names the
file and that directory is on PYTHONPATH; `session_environment()` gives both.

This module is stdlib + botocore only: the sitecustomize loads it by path.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Not OVERLORD_*: `overlord dev` (running.start_dev) keeps those from its children.
ENV_VAR = "TEST_AWS_CALL_LOG"
SITE_DIR = Path(__file__).resolve().parent / "awscalls_site"

PRODUCT_MODULES = ("overlord", "overlord_submitter", "overlord_recorder", "overlord_worker")
LIBRARY_MODULES = ("botocore", "boto3", "s3transfer", "tenacity", "urllib3")
HERE = __name__
# The product settings that Terraform sets from its variables (functions module
# `local.environment`, batch module `local.worker_environment`): the IAM test binds
# those variables from the values a call ran with.
SETTINGS = (
    "RESULTS_BUCKET",
    "JOB_QUEUE",
    "JOB_DEFINITION_PREFIX",
    # The task catalogue the call ran with: Terraform makes (and grants) one job
    # definition per file of the same folder.
    "OVERLORD_TASKS_DIR",
    "MONGODB_SECRET_ARN",
    "BATCH_LOG_GROUP",
)
# Parameters that name the resource a call touches (never bodies or secret values).
RESOURCE_PARAMS = (
    "Bucket",
    "Key",
    "Prefix",
    "logGroupName",
    "logStreamName",
    "logGroupIdentifier",
    "jobQueue",
    "jobDefinition",
    "jobs",
    "jobId",
    "SecretId",
)
_STASH = "overlord_aws_call"
_lock = threading.Lock()
_installed: dict[str, Any] = {}


def _module_of(frame: Any) -> str:
    spec = frame.f_globals.get("__spec__")
    name = getattr(spec, "name", None) or frame.f_globals.get("__name__", "")
    return str(name)


def _is(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _stack() -> Iterator[tuple[str, str]]:
    frame: Any = sys._getframe()
    while frame is not None:
        yield _module_of(frame), frame.f_code.co_name
        frame = frame.f_back


def component_of(stack: list[tuple[str, str]], env: dict[str, str] | os._Environ[str]) -> str:
    """The component a product call belongs to, '' when nothing tells."""
    for module, function in stack:
        if _is(module, ("overlord_submitter",)):
            return "submitter"
        if _is(module, ("overlord_recorder",)) and function == "reconcile_handler":
            return "reconcile"
        if _is(module, ("overlord_recorder",)) and function == "lambda_handler":
            return "recorder"
        if _is(module, ("overlord_worker",)):
            return "worker"
    for name in (env.get("AWS_LAMBDA_FUNCTION_NAME", ""), env.get("POWERTOOLS_SERVICE_NAME", "")):
        for component in ("submitter", "recorder", "reconcile"):
            if name.endswith(f"-{component}"):
                return component
    return "worker" if env.get("OVERLORD_TASK") else ""


def _caller() -> tuple[bool, list[tuple[str, str]]]:
    """(made by product code, the stack as (module, function), innermost first)."""
    stack = [(m, f) for m, f in _stack() if m != HERE]
    for module, _ in stack:
        if _is(module, LIBRARY_MODULES):
            continue
        return _is(module, PRODUCT_MODULES), stack
    return False, stack


def _resource_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in RESOURCE_PARAMS:
        if name in params:
            out[name] = params[name]
    if "tags" in params:
        # SubmitJob with tags tags the job: IAM checks them as aws:RequestTag/<key>.
        out["tags"] = dict(sorted(params["tags"].items()))
    return out


def _before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    product, stack = _caller()
    if not product:
        return
    context[_STASH] = {
        "component": component_of(stack, os.environ),
        "service": model.service_model.endpoint_prefix,
        "operation": model.name,
        "region": context.get("client_region"),
        "params": _resource_params(params),
        "settings": {k: os.environ[k] for k in SETTINGS if os.environ.get(k)},
        "pid": os.getpid(),
    }


def _write(record: dict[str, Any]) -> None:
    path = _installed.get("path")
    if not path:
        return
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)


def _after(http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
    record = context.pop(_STASH, None)
    if record is None:
        return
    record["status"] = getattr(http_response, "status_code", None)
    error = (parsed or {}).get("Error") or {}
    record["error"] = error.get("Code")
    _write(record)


def _after_error(exception: Exception, context: dict[str, Any], **_: Any) -> None:
    record = context.pop(_STASH, None)
    if record is None:
        return
    record["status"], record["error"] = None, type(exception).__name__
    _write(record)


def _register(client: Any) -> None:
    events = client.meta.events
    events.register("before-parameter-build", _before, unique_id="overlord-awscalls-before")
    events.register("after-call", _after, unique_id="overlord-awscalls-after")
    events.register("after-call-error", _after_error, unique_id="overlord-awscalls-error")


def install(path: str | os.PathLike[str], session_module: Any = None) -> None:
    """Record product calls of every client created from now on into `path`."""
    _installed["path"] = str(path)
    if "original" in _installed:
        return
    if session_module is None:
        import botocore.session as session_module

    original = session_module.Session.create_client
    _installed["original"] = original

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        _register(client)
        return client

    session_module.Session.create_client = create_client


class _WhenBotocoreLoads:
    """Install once botocore.session is imported, so a subprocess that never uses AWS
    (or not yet) pays nothing at start-up: a slower start is enough for the Lambda
    emulator under `overlord dev --rie` to receive two invocations at once and crash."""

    def __init__(self, path: str) -> None:
        self.path = path

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "botocore.session":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader, recorder_path = spec.loader, self.path
        exec_module = loader.exec_module

        def exec_then_install(module: Any) -> None:
            exec_module(module)
            install(recorder_path, module)

        loader.exec_module = exec_then_install  # type: ignore[method-assign]
        return spec


def install_from_env() -> None:
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    if "botocore.session" in sys.modules:
        install(path)
    else:
        sys.meta_path.insert(0, _WhenBotocoreLoads(path))


def session_environment(path: str | os.PathLike[str]) -> dict[str, str]:
    """Variables that make subprocesses record into `path` too."""
    python_path = [str(SITE_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    return {ENV_VAR: str(path), "PYTHONPATH": ":".join(dict.fromkeys(python_path))}


def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every recorded call in `path` (none when it does not exist)."""
    p = Path(path)
    if not p.is_file():
        return []
    calls = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            calls.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a process killed while writing
    return calls
