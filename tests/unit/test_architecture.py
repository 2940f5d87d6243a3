"""The import rules of docs/architecture.md, checked on the source (AST), not by convention."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "overlord": ROOT / "src" / "overlord",
    "overlord_submitter": ROOT / "services" / "submitter" / "overlord_submitter",
    "overlord_recorder": ROOT / "services" / "recorder" / "overlord_recorder",
    "overlord_worker": ROOT / "batch-worker" / "overlord_worker",
    "overlord_local": ROOT / "local" / "src" / "overlord_local",
}
PRODUCT_ENTRYPOINTS = ("overlord_submitter", "overlord_recorder", "overlord_worker")
DRIVERS = ("boto3", "botocore", "pymongo", "bson")
# The domain: identity, status order, request, schema, events. No I/O, no driver.
DOMAIN = (
    "overlord.identity",
    "overlord.status",
    "overlord.request",
    "overlord.schema",
    "overlord.fieldnames",
    "overlord.observation",
    "overlord.batch_events",
    "overlord.bucket_layout",
    "overlord.submission",
    "overlord.views",
    "overlord.errors",
    "overlord.clock",
    "overlord.deadline",
    "overlord.ports",
    "overlord.worker_env",
    "overlord.arrays",
)


def module_name(package: str, path: Path) -> str:
    parts = path.relative_to(PACKAGES[package]).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def modules() -> Iterator[tuple[str, Path]]:
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            yield module_name(package, path), path


def imported(path: Path, name: str) -> set[str]:
    """Absolute names of every module this file imports (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.rsplit(".", node.level)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def starts(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(rule: str, source: str, names: set[str]) -> list[str]:
    return [f"{source} imports {n} ({rule})" for n in sorted(names)]


def check(module: str, names: set[str]) -> list[str]:
    problems: list[str] = []
    if starts(module, "overlord_local"):
        bad = {n for n in names if starts(n, "overlord", *PRODUCT_ENTRYPOINTS)}
        problems += violations("the local stack knows the product only by name", module, bad)
    if starts(module, "overlord", *PRODUCT_ENTRYPOINTS):
        bad = {n for n in names if starts(n, "overlord_local")}
        problems += violations("the product never imports the local stack", module, bad)
    if starts(module, "overlord"):
        bad = {n for n in names if starts(n, *PRODUCT_ENTRYPOINTS)}
        problems += violations("the core never imports an entry point", module, bad)
    if starts(module, *DOMAIN):
        bad = {
            n
            for n in names
            if starts(n, *DRIVERS, "overlord.adapters", "overlord.services", "overlord.wiring")
        }
        problems += violations("the domain does no I/O", module, bad)
    if starts(module, "overlord.services"):
        bad = {n for n in names if starts(n, *DRIVERS, "overlord.adapters", "overlord.wiring")}
        problems += violations("services see ports, not adapters or drivers", module, bad)
    if starts(module, "overlord.adapters"):
        bad = {n for n in names if starts(n, "overlord.services", "overlord.wiring")}
        problems += violations("adapters implement ports, they call no service", module, bad)
    return problems


def test_every_module_keeps_the_import_rules() -> None:
    problems = [p for module, path in modules() for p in check(module, imported(path, module))]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("overlord_local.devstack.stack", "overlord.wiring"),
        ("overlord_local.devstack.stack", "overlord_submitter.handler"),
        ("overlord.config", "overlord_local.contracts"),
        ("overlord_worker.service", "overlord_local.localbatch"),
        ("overlord.services.submit", "pymongo.errors"),
        ("overlord.services.record", "overlord.adapters.s3"),
        ("overlord.identity", "boto3"),
        ("overlord.adapters.batch", "overlord.services.submit"),
        ("overlord.status", "overlord_recorder.handler"),
    ],
)
def test_a_forbidden_import_is_reported(module: str, name: str) -> None:
    assert check(module, {name}) != []


def test_relative_imports_resolve_to_absolute_names(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from ..adapters import batch\nfrom . import x\n")
    assert "overlord.adapters.batch" in imported(source, "overlord.services.m")
    assert "overlord.services.x" in imported(source, "overlord.services.m")
