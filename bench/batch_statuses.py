"""The `make bench` row "recorder: events/s in batches of 10 vs one per invocation", status
by status, with the MongoDB commands and their time (docs/performance.md, "Recorder
batches and commands per job"):

    .venv/bin/python -m bench.batch_statuses [--jobs 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import table
from bench.harness import COMMAND_TIMES, HELD_QUEUE, open_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=40, help="jobs a side")
    n = parser.parse_args(argv).jobs
    stack = open_stack(Path(tempfile.mkdtemp(prefix="batch-statuses-")))
    try:
        stack.use_handlers_here(HELD_QUEUE)
        singles = [b for _, b in table._echo_jobs(stack, n)]
        batched = [b for _, b in table._echo_jobs(stack, n)]
        table._record_life(stack, [b for _, b in table._echo_jobs(stack, 1)], 1)  # warm
        # stderr: the handlers' output goes to /dev/null with stdout
        print(
            "status: one per invocation | batches of 10 (ms/event, commands/event, "
            "of which MongoDB ms/event)",
            file=sys.stderr,
        )
        for status in table.LIFE:
            with COMMAND_TIMES.capture() as one:
                single_s = table._record_status(stack, singles, status, 1)
            with COMMAND_TIMES.capture() as many:
                batched_s = table._record_status(stack, batched, status, table.EVENT_BATCH)
            print(
                f"{status}: {1000 * single_s / n:.1f} ms, {len(one) / n:.1f}, "
                f"{sum(c.ms for c in one) / n:.1f} | {1000 * batched_s / n:.1f} ms, "
                f"{len(many) / n:.2f}, {sum(c.ms for c in many) / n:.1f} "
                f"({single_s / batched_s:.2f}×)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
