"""API throughput with 1 submitter execution environment vs the default, side by side.

    .venv/bin/python -m bench.environments [--posts 200] [--rounds 2]

One `overlord dev` per setting (`--submitter-environments N`), one after the other, each
measured `--rounds` times with `make bench`'s throughput row (16 clients, the dev queue
held so that no worker competes for the CPU). Compare within one run: the machine's
load moves the absolute figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

from bench.harness import open_stack
from bench.table import FULL, throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--environments", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    sizes = dataclasses.replace(FULL, throughput_posts=args.posts)
    rates: dict[int, list[float]] = {n: [] for n in args.environments}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.environments:
            state = Path(tmp) / f"env-{n}"
            stack = open_stack(state, dev_args=("--submitter-environments", str(n)))
            try:
                for _ in range(args.rounds):
                    result = throughput(stack, sizes)
                    print(f"{n} environment(s): {result.figure}  ({result.context})", flush=True)
                    rates[n].append(float(result.figure.removesuffix("/s")))
            finally:
                stack.stop()
    for n, values in rates.items():
        print(f"{n} environment(s): median {statistics.median(values):.1f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
