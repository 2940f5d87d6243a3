"""Where things live in the results bucket — shared by submitter, worker and recorder."""

from __future__ import annotations

PARAMETERS_PREFIX = "params/"
RESULTS_PREFIX = "results/"


def parameters_key(job_id: str) -> str:
    """Parameters too large for the container's environment."""
    return f"{PARAMETERS_PREFIX}{job_id}.json"


def item_offsets_key(job_id: str) -> str:
    """Beside an array job's items at `parameters_key`: where each item lies in them
    (`overlord.domain.item_offsets`), so that a child reads only its own."""
    return f"{PARAMETERS_PREFIX}{job_id}.offsets"


def selection_key(job_id: str, run_number: int) -> str:
    """The items a re-run of some of an array job's items runs, when too many for the
    container's environment."""
    return f"{PARAMETERS_PREFIX}{job_id}/run-{run_number}-items.json"


def result_key(job_id: str, batch_job_id: str) -> str:
    """The worker's result for one run (each attempt overwrites the previous one)."""
    return f"{RESULTS_PREFIX}{job_id}/{batch_job_id}.json"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key
