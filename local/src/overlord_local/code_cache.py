"""The product's modules compiled once for every job the fork server forks (a
``preload`` entry).

A forked job imports the product's own modules itself (they read the job's
environment when imported), and with ``PYTHONDONTWRITEBYTECODE`` set (here, in the
worker image, in CI) nothing ever writes their ``.pyc``: each array child compiled the
~22 modules of ``overlord_worker`` and ``overlord`` from source again, ~15–19 ms of its
~100 ms of CPU (cProfile: ``builtins.compile``). Imported by the fork server, this
module compiles them once and makes the import system's ``source_to_code`` return the
code object compiled from the very same source bytes (the cache key is the path and a
digest of the bytes), so an edited file is compiled anew. Each child still executes
its modules itself: only the compiling is shared. Nothing is written to disk, and only
the fork server imports this; nothing on AWS does.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib._bootstrap_external import SourceLoader
from pathlib import Path
from types import CodeType
from typing import Any

# The packages a worker job imports from this checkout (not installed wheels, whose
# bytecode `uv sync --compile-bytecode` wrote).
PACKAGES = ("overlord", "overlord_worker", "overlord_contracts")

_original = SourceLoader.source_to_code
# Read and filled without a lock: a dict's get and set are atomic, and two threads
# compiling one file at once only compile it twice.
_compiled: dict[tuple[str, bytes], CodeType] = {}


def _key(data: Any, path: Any) -> tuple[str, bytes]:
    return str(path), hashlib.blake2b(bytes(data), digest_size=16).digest()


def source_to_code(self: Any, data: Any, path: Any, *, _optimize: int = -1) -> CodeType:
    """``SourceLoader.source_to_code``, remembering what it compiled."""
    if _optimize != -1:
        return _original(self, data, path, _optimize=_optimize)
    key = _key(data, path)
    code = _compiled.get(key)
    if code is None:
        code = _compiled[key] = _original(self, data, path)
    return code


def warm(packages: tuple[str, ...] = PACKAGES) -> int:
    """Compile every module of `packages` (found, not imported); returns how many."""
    count = 0
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                data = path.read_bytes()
                try:
                    code = compile(data, str(path), "exec", dont_inherit=True)
                except SyntaxError:
                    continue  # an import of it fails in the job, as it would unwarmed
                _compiled[_key(data, path)] = code
                count += 1
    return count


SourceLoader.source_to_code = source_to_code  # type: ignore[method-assign]
warm()  # on import: the fork server's preload imports, it calls nothing
