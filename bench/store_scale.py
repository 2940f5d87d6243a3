"""MongoDB time of one POST /jobs and one recorded event, as the database grows.

Starts `overlord dev` with a FerretDB binary, invokes the submitter and recorder
handlers in this process against its servers (a held queue: nothing runs), and times
each MongoDB command with pymongo's command monitoring: with the database as it starts,
then with `--preload` finished jobs (and their runs) added. Given two binaries (e.g.
upstream FerretDB and ours, local/ferretdb/patches), it prints them side by side.

    .venv/bin/python -m bench.store_scale [--preload 10000] [--samples 5] \
        [--ferretdb before=/path/to/upstream-ferretdb] [--ferretdb after=.tools/bin/ferretdb]

Without --ferretdb: our build (as `make dev` runs it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import COMMAND_TIMES, Command, echo_body, median, open_stack, preload, timed
from overlord_local.devstack.gotools import FERRETDB, ensure


@dataclass
class Measured:
    """Per (phase, database size): command label → median ms, and the call's median ms."""

    commands: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    calls: dict[tuple[str, int], float] = field(default_factory=dict)


def _medians(samples: list[list[Command]]) -> dict[str, float]:
    """Median time of each command of a call, named by its place among equals
    ("update jobs", "update jobs #2"), in the order the call issues them."""
    by_label: dict[str, list[float]] = defaultdict(list)
    for commands in samples:
        seen: dict[str, int] = defaultdict(int)
        for command in commands:
            seen[command.name] += 1
            n = seen[command.name]
            by_label[command.name + (f" #{n}" if n > 1 else "")].append(command.ms)
    return {label: median(times) for label, times in by_label.items()}


def measure(binary: str, sizes: list[int], samples: int) -> Measured:
    measured = Measured()
    with tempfile.TemporaryDirectory(prefix="overlord-store-scale-") as tmp:
        stack = open_stack(Path(tmp), ferretdb_bin=binary)
        try:
            stack.use_handlers_here()
            stack.post_job(echo_body("warm-up"))  # imports, clients, indexes
            loaded = 0
            for size in sizes:
                if size > loaded:
                    seconds = preload(stack.db, size - loaded)
                    print(f"  preloaded {size - loaded} jobs in {seconds:.1f} s", file=sys.stderr)
                    loaded = size
                posts, post_ms, batch_ids = [], [], []
                for _ in range(samples):
                    with COMMAND_TIMES.capture() as commands:
                        started = time.perf_counter()
                        status, body = stack.post_job(echo_body())
                        post_ms.append(1000 * (time.perf_counter() - started))
                    if status != 202:
                        raise RuntimeError(f"POST /jobs answered {status}: {body}")
                    posts.append(commands)
                    batch_ids.append(body["batch_job_id"])
                measured.commands["POST /jobs", size] = _medians(posts)
                measured.calls["POST /jobs", size] = median(post_ms)
                events, event_ms = [], []
                for event in stack.events_for(batch_ids, "RUNNABLE"):
                    with COMMAND_TIMES.capture() as commands:
                        event_ms.append(1000 * timed(lambda e=event: stack.record(e)))
                    events.append(commands)
                measured.commands["event", size] = _medians(events)
                measured.calls["event", size] = median(event_ms)
        finally:
            stack.stop()
    return measured


def report(results: dict[str, Measured], sizes: list[int], samples: int) -> Table:
    table = Table(
        title=f"MongoDB commands of one call, median of {samples} (ms), by jobs in the database",
        title_justify="left",
    )
    table.add_column("call")
    table.add_column("command")
    for label in results:
        for size in sizes:
            table.add_column(f"{label}\n{size:,} jobs", justify="right")
    first = next(iter(results.values()))
    for phase in ("POST /jobs", "event"):
        labels = list(first.commands[phase, sizes[0]])
        for command in labels:
            cells = [
                f"{m.commands[phase, size].get(command, float('nan')):.1f}"
                for m in results.values()
                for size in sizes
            ]
            table.add_row(phase, command, *cells)
        totals = [
            f"{sum(m.commands[phase, size].values()):.1f}"
            for m in results.values()
            for size in sizes
        ]
        table.add_row(phase, "[b]all MongoDB commands[/b]", *totals)
        calls = [f"{m.calls[phase, size]:.1f}" for m in results.values() for size in sizes]
        table.add_row(phase, "[b]whole call (handler)[/b]", *calls, end_section=True)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload", type=int, default=10_000, help="jobs added (0: none)")
    parser.add_argument("--samples", type=int, default=5, help="calls measured per size")
    parser.add_argument(
        "--ferretdb",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="a FerretDB binary to measure (repeatable); default: ours",
    )
    args = parser.parse_args()
    binaries = dict(b.split("=", 1) for b in args.ferretdb) or {"ours": str(ensure(FERRETDB))}
    sizes = [0, args.preload] if args.preload else [0]
    results = {}
    for label, binary in binaries.items():
        print(f"measuring {label} ({binary})", file=sys.stderr)
        results[label] = measure(binary, sizes, args.samples)
    Console(file=sys.__stdout__, width=200).print(report(results, sizes, args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
