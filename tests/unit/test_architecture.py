"""The import rules of docs/architecture.md, checked on the source (AST), not by convention.

A module's layer is where its file lies (src/overlord/domain/ is the domain, and so on),
not a list of names: a new module is held to its folder's rules the day it is added.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "overlord": ROOT / "src" / "overlord",
    "overlord_submitter": ROOT / "services" / "submitter" / "overlord_submitter",
    "overlord_recorder": ROOT / "services" / "recorder" / "overlord_recorder",
    "overlord_worker": ROOT / "batch-worker" / "overlord_worker",
    "overlord_local": ROOT / "local" / "src" / "overlord_local",
    "overlord_contracts": ROOT / "contracts" / "src" / "overlord_contracts",
}
PRODUCT_ENTRYPOINTS = ("overlord_submitter", "overlord_recorder", "overlord_worker")
DRIVERS = ("boto3", "botocore", "pymongo", "bson")

# The product's layers, lowest first, by folder under src/overlord/ (an entry point is
# its own package). A module imports its own layer or lower ones, never a higher one.
PRODUCT_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The shared contracts (contracts/, the overlord-contracts distribution: task
    # catalogue, job definitions, event pattern, bucket layout, worker environment):
    # below everything that uses them, the local stack included.
    ("contracts", ("overlord_contracts",)),
    ("domain", ("overlord.domain",)),
    ("ports", ("overlord.ports",)),
    ("services", ("overlord.services",)),
    ("adapters", ("overlord.adapters",)),
    ("runtime", ("overlord.runtime",)),
    ("entry points", PRODUCT_ENTRYPOINTS),
)
# The local stack's layers, lowest first: the Lambda host and process helpers, the AWS
# look-alikes (each its own package), the API client, the stacks that start them, and
# the commands.
LOCAL_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "local helpers",
        (
            "overlord_local.pdeathsig",
            "overlord_local.lambdas",
            "overlord_local.forkserver",
            "overlord_local.botocore_warm",
            "overlord_local.code_cache",
            "overlord_local.chaos",
            "overlord_local.metrics",
        ),
    ),
    (
        "local emulators",
        (
            "overlord_local.apigateway",
            "overlord_local.eventrouter",
            "overlord_local.localbatch",
            "overlord_local.provision",
        ),
    ),
    ("local client", ("overlord_local.client", "overlord_local.loglines")),
    ("local stacks", ("overlord_local.devstack",)),
    (
        "local commands",
        (
            "overlord_local.cli",
            "overlord_local.client_commands",
            "overlord_local.stats_command",
            "overlord_local.ui",
        ),
    ),
)
STACKS = {"product": PRODUCT_LAYERS, "local": LOCAL_LAYERS}
# What a layer may not import at all, whatever its height.
FORBIDDEN: Mapping[str, tuple[str, ...]] = {
    "contracts": (*DRIVERS, "aws_lambda_powertools"),
    "domain": (*DRIVERS, "aws_lambda_powertools"),
    "ports": DRIVERS,
    "services": DRIVERS,
    # Adapters implement ports; they call no service (services and adapters are siblings).
    "adapters": ("overlord.services",),
}


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
                is_package = path.name == "__init__.py"
                base = (
                    name.rsplit(".", node.level - is_package)[0]
                    if node.level > is_package
                    else name
                )
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def starts(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer(name: str) -> tuple[str, int, str] | None:
    """(stack, height, layer) of a module, None outside every layer."""
    for stack, layers in STACKS.items():
        for height, (layer_name, prefixes) in enumerate(layers):
            if starts(name, *prefixes):
                return stack, height, layer_name
    return None


def violations(rule: str, source: str, names: set[str]) -> list[str]:
    return [f"{source} imports {n} ({rule})" for n in sorted(names)]


def check(module: str, names: set[str]) -> list[str]:
    problems: list[str] = []
    if starts(module, "overlord_local"):
        bad = {n for n in names if starts(n, "overlord", *PRODUCT_ENTRYPOINTS)}
        problems += violations("the local stack knows the product only by name", module, bad)
    if starts(module, "overlord", "overlord_contracts", *PRODUCT_ENTRYPOINTS):
        bad = {n for n in names if starts(n, "overlord_local")}
        problems += violations("the product never imports the local stack", module, bad)
    own = layer(module)
    if own is not None:
        stack, height, layer_name = own
        above = {
            n
            for n in names
            if (other := layer(n)) is not None and other[0] == stack and other[1] > height
        }
        problems += violations(f"the {layer_name} import no higher layer", module, above)
        banned = {n for n in names if starts(n, *FORBIDDEN.get(layer_name, ()))}
        problems += violations(f"the {layer_name} may not import it", module, banned)
    return problems


def test_every_module_keeps_the_import_rules() -> None:
    problems = [p for module, path in modules() for p in check(module, imported(path, module))]
    assert problems == []


def test_every_module_lies_in_one_layer() -> None:
    """A module at src/overlord/'s root (or in a new folder) belongs to no layer."""
    packages = ("overlord", "overlord_local")
    loose = [m for m, _ in modules() if m not in packages and layer(m) is None]
    assert loose == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("overlord_local.devstack.stack", "overlord.runtime.wiring"),
        ("overlord_local.devstack.stack", "overlord_submitter.handler"),
        ("overlord.adapters.config", "overlord_local.localbatch"),
        ("overlord_worker.service", "overlord_local.localbatch"),
        ("overlord.services.submit", "pymongo.errors"),
        ("overlord.services.record", "overlord.adapters.s3"),
        ("overlord.services.anything_new", "overlord.runtime.wiring"),
        ("overlord.domain.identity", "boto3"),
        ("overlord.domain.anything_new", "overlord.ports"),
        ("overlord.domain.status", "aws_lambda_powertools"),
        ("overlord.ports.batch_events", "overlord.services.reconcile"),
        ("overlord.adapters.batch", "overlord.services.submit"),
        ("overlord.adapters.s3", "overlord.runtime.json_logging"),
        ("overlord.domain.status", "overlord_recorder.handler"),
        ("overlord_contracts.catalogue", "overlord.domain.errors"),
    ],
)
def test_a_forbidden_import_is_reported(module: str, name: str) -> None:
    assert check(module, {name}) != []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("overlord.services.submit", "overlord.ports"),
        ("overlord.adapters.batch", "overlord.ports.batch_events"),
        ("overlord.runtime.wiring", "overlord.adapters.mongo_store"),
        ("overlord_submitter.handler", "overlord.runtime.wiring"),
        ("overlord.domain.submission", "overlord_contracts.catalogue"),
        ("overlord_local.provision", "overlord_contracts.catalogue"),
        ("overlord_local.devstack.stack", "overlord_local.apigateway.gateway"),
        ("overlord_local.apigateway.gateway", "overlord_local.lambdas"),
    ],
)
def test_an_allowed_import_is_not_reported(module: str, name: str) -> None:
    assert check(module, {name}) == []


def test_relative_imports_resolve_to_absolute_names(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from ..adapters import batch\nfrom . import x\n")
    assert "overlord.adapters.batch" in imported(source, "overlord.services.m")
    assert "overlord.services.x" in imported(source, "overlord.services.m")


# ------------------------------------------------------------------ import circles


def graph() -> dict[str, set[str]]:
    """Each of our modules → the modules of ours it imports (`from a import b` counts as
    an import of a.b when that is a module, else of a)."""
    known = dict(modules())
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets: set[str] = set()
        for name in imported(path, module):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        # `from pkg import mod` also names pkg: only the module itself is the edge.
        edges[module] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return edges


def circles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_an_import_circle_is_reported() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
