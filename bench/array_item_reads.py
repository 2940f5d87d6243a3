"""What an array child downloads to find its item, with and without the offsets object.

Stores a list of --items items of about --item-bytes bytes each (canonical JSON, built
as a request builds it) and its offsets in S3 on a moto server, as the submitter does
when the items do not fit the container's environment. Then, for --children children
spread over the list, runs the worker's own reading of its item (`run_task` with a task
that does nothing and no results bucket: nothing else is read or written) twice: given
OVERLORD_ITEMS_URI only (the submissions before the offsets), and given
OVERLORD_ITEMS_OFFSETS_URI too. Counted with botocore's event hooks on the worker's S3
client: GetObject calls and the bytes they returned, per child; and what that makes for
a whole array. Also timed: the submitter's computing of the offsets from the list.

Times are against moto on this machine, not S3: the bytes are the figure to read.

    .venv/bin/python bench/array_item_reads.py [--items 10000] [--item-bytes 400]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import time
from typing import Any

import boto3

BUCKET = "bench-item-reads"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}  # moto's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--item-bytes", type=int, default=400)
    parser.add_argument("--children", type=int, default=40)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's line per request
    os.environ["LOG_LEVEL"] = "ERROR"  # the worker's lines per child

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(
        {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_DEFAULT_REGION": "us-east-1"},
        **CREDENTIALS,
    )
    try:
        run(args.items, args.item_bytes, args.children)
    finally:
        server.stop()


def run(count: int, item_bytes: int, children: int) -> None:
    # Imported once the endpoint is set: the adapter's clients are made on first use.
    from overlord.adapters.aws import client
    from overlord.adapters.s3 import ObjectStore
    from overlord.domain.item_offsets import item_offsets
    from overlord.domain.request import validate_job_request
    from overlord_contracts.bucket_layout import item_offsets_key, parameters_key
    from overlord_contracts.worker_env import WorkerEnvironment
    from overlord_worker.service import run_task

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    filler = "x" * max(0, item_bytes - len('{"message":"item 00000 é☃ "}'.encode()))
    items = [{"message": f"item {i:05} é☃ {filler}"} for i in range(count)]
    request = validate_job_request({"task": "echo", "items": items})
    text = request.input_json
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        offsets = item_offsets(text)
        timings.append((time.perf_counter() - started) * 1000)
    offsets_ms = min(timings)
    objects = ObjectStore(BUCKET)
    items_uri = objects.put_text(parameters_key(request.job_id), text)
    offsets_uri = objects.put_bytes(item_offsets_key(request.job_id), offsets)
    list_bytes = len(text.encode())

    s3 = client("s3")
    calls: list[int] = []
    sizes: list[int] = []

    def before(**_: Any) -> None:
        calls.append(1)

    def after(parsed: dict[str, Any], **_: Any) -> None:
        sizes.append(int(parsed.get("ContentLength", 0)))

    s3.meta.events.register("provide-client-params.s3.GetObject", before)
    s3.meta.events.register("after-call.s3.GetObject", after)

    def nothing(parameters: dict[str, Any], context: Any) -> None:
        return None

    indices = sorted({round(k * (count - 1) / max(1, children - 1)) for k in range(children)})
    rows = []
    for label, offsets_var in (("without offsets", None), ("with offsets", offsets_uri)):
        per_child_bytes, per_child_calls, per_child_ms = [], [], []
        for index in indices:
            env = WorkerEnvironment.from_env(
                {
                    "OVERLORD_JOB_ID": request.job_id,
                    "OVERLORD_TASK": "echo",
                    "OVERLORD_ITEMS_URI": items_uri,
                    **({"OVERLORD_ITEMS_OFFSETS_URI": offsets_var} if offsets_var else {}),
                    "AWS_BATCH_JOB_ID": f"parent:{index}",
                    "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
                }
            )
            calls.clear()
            sizes.clear()
            started = time.perf_counter()
            code = run_task(env, objects, load_task=lambda name: nothing)
            per_child_ms.append((time.perf_counter() - started) * 1000)
            assert code == 0, f"child {index}: exit code {code}"
            per_child_bytes.append(sum(sizes))
            per_child_calls.append(len(calls))
        rows.append((label, per_child_bytes, per_child_calls, per_child_ms))

    print(
        f"{count:,} items, list object {list_bytes:,} bytes "
        f"({list_bytes / count:.0f} per item), offsets object {len(offsets):,} bytes "
        f"(computed in {offsets_ms:.0f} ms, best of 3); {len(indices)} children sampled"
    )
    print(
        f"{'':18}{'bytes per child':>18}{'GETs per child':>16}"
        f"{'for all ' + format(count, ',') + ' children':>28}{'ms per child (moto)':>22}"
    )
    for label, per_bytes, per_calls, per_ms in rows:
        mean_bytes, mean_calls = statistics.mean(per_bytes), statistics.mean(per_calls)
        whole = f"{_size(mean_bytes * count)} in {round(mean_calls * count):,} GETs"
        print(
            f"{label:18}{mean_bytes:>18,.0f}{mean_calls:>16.1f}{whole:>28}"
            f"{statistics.median(per_ms):>22.1f}"
        )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


if __name__ == "__main__":
    main()
