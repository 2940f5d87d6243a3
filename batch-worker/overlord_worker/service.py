"""Run one task as AWS Batch asks and write its result, over a small object-store port.

Exit codes: 0 success; 1 the task failed; 2 unknown task or bad parameters (the job
definition tells Batch not to retry 2); a task may choose another with TaskExit.

The result JSON goes to ``s3://RESULTS_BUCKET/results/<job_id>/<batch_job_id>.json``
(`overlord.bucket_layout.result_key`), on failure too, with the error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from overlord.bucket_layout import result_key
from overlord.logs import service_logger
from overlord.worker_env import JOB_ID, PARAMETERS, TASK, WorkerEnvironment
from overlord_worker import registry
from overlord_worker.registry import BadParameters, Task, TaskContext, TaskExit, UnknownTask

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

logger = service_logger("overlord-worker")


class Objects(Protocol):
    """What the worker needs of S3 (`overlord.adapters.s3.ObjectStore` implements it)."""

    def get_text(self, uri: str) -> str:
        """The text of the object at an ``s3://bucket/key`` URI."""
        ...

    def put_text(self, key: str, text: str, content_type: str = "application/json") -> str:
        """Write `text` under `key` in the results bucket; return its URI."""
        ...


def _parameters(env: WorkerEnvironment, objects: Objects) -> dict[str, Any]:
    if env.parameters_uri:
        try:
            text = objects.get_text(env.parameters_uri)
        except UnicodeDecodeError:
            raise BadParameters(f"{env.parameters_uri} is not UTF-8 text") from None
    else:
        text = env.parameters if env.parameters is not None else "{}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadParameters(f"{PARAMETERS} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadParameters(f"{PARAMETERS} must be a JSON object")
    return value


def _exit_code(chosen: int) -> int:
    """A TaskExit code as the process's: 0..255 as chosen, anything else 1.

    An exit status is one byte, so 256 would reach Batch as 0 (a success) and -1 as 255.
    """
    return chosen if 0 <= chosen <= 255 else EXIT_FAILED


def _write_result(env: WorkerEnvironment, objects: Objects, result: dict[str, Any]) -> None:
    if not env.results_bucket:
        logger.warning("RESULTS_BUCKET not set; result not written")
        return
    key = result_key(env.job_id, env.batch_job_id)
    uri = objects.put_text(key, json.dumps(result, default=str))
    logger.info("result written", extra={"result_uri": uri})


def run_task(
    env: WorkerEnvironment,
    objects: Objects,
    *,
    load_task: Callable[[str], Task] = registry.load_task,
) -> int:
    """Run the task `env` names, write its result through `objects`; return the exit code.

    `objects` writes into `env.results_bucket`; nothing is written when that is unset.
    """
    context = TaskContext(
        job_id=env.job_id, batch_job_id=env.batch_job_id, attempt=env.attempt, log=logger
    )
    logger.append_keys(
        job_id=env.job_id, batch_job_id=env.batch_job_id, attempt=env.attempt, task=env.task
    )
    result: dict[str, Any] = {
        "job_id": env.job_id,
        "batch_job_id": env.batch_job_id,
        "attempt": env.attempt,
        "task": env.task,
        "started_at": datetime.now(UTC).isoformat(),
    }
    try:
        if not env.job_id or not env.task:
            raise BadParameters(f"{JOB_ID} and {TASK} must be set")
        task = load_task(env.task)
        output = task(_parameters(env, objects), context)
        code, result["status"], result["output"] = EXIT_OK, "SUCCEEDED", output
        logger.info("task succeeded")
    except (UnknownTask, BadParameters) as exc:
        code, result["status"], result["error"] = EXIT_BAD_INPUT, "FAILED", str(exc)
        logger.error(f"bad input: {exc}")
    except TaskExit as exc:
        code = _exit_code(exc.exit_code)
        if code == EXIT_OK:
            result["status"], result["output"], result["message"] = "SUCCEEDED", None, str(exc)
            logger.info(f"task exited with 0: {exc}")
        else:
            result["status"], result["error"] = "FAILED", str(exc)
            if code != exc.exit_code:
                result["task_exit_code"] = exc.exit_code
            logger.error(f"task exited with {exc.exit_code} (exit code {code}): {exc}")
    except Exception as exc:
        code, result["status"] = EXIT_FAILED, "FAILED"
        result["error"] = f"{type(exc).__name__}: {exc}"
        logger.exception("task failed")
    result["finished_at"] = datetime.now(UTC).isoformat()
    result["exit_code"] = code
    if env.job_id:
        try:
            _write_result(env, objects, result)
        except Exception:
            logger.exception("could not write the result")
            code = code or EXIT_FAILED
    return code
