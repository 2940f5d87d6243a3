"""`python -m overlord_worker`: run one task as AWS Batch asks, write its result to S3.

Exit codes: 0 success; 1 the task failed; 2 unknown task or bad parameters (the job
definition tells Batch not to retry 2); a task may choose another with TaskExit.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import boto3

from overlord.bucket_layout import parse_s3_uri, result_key
from overlord.logs import service_logger
from overlord_worker.registry import BadParameters, TaskContext, TaskExit, UnknownTask, load_task

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

logger = service_logger("overlord-worker")


def _parameters(env: dict[str, str]) -> dict[str, Any]:
    if env.get("OVERLORD_PARAMETERS_URI"):
        bucket, key = parse_s3_uri(env["OVERLORD_PARAMETERS_URI"])
        text = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    else:
        text = env.get("OVERLORD_PARAMETERS", "{}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadParameters(f"OVERLORD_PARAMETERS is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadParameters("OVERLORD_PARAMETERS must be a JSON object")
    return value


def _write_result(env: dict[str, str], result: dict[str, Any]) -> None:
    bucket = env.get("RESULTS_BUCKET")
    if not bucket:
        logger.warning("RESULTS_BUCKET not set; result not written")
        return
    key = result_key(result["job_id"], result["batch_job_id"])
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        ContentType="application/json",
        Body=json.dumps(result, default=str).encode(),
    )
    logger.info("result written", extra={"result_uri": f"s3://{bucket}/{key}"})


def run(env: dict[str, str]) -> int:
    job_id = env.get("OVERLORD_JOB_ID", "")
    task_name = env.get("OVERLORD_TASK", "")
    context = TaskContext(
        job_id=job_id,
        batch_job_id=env.get("AWS_BATCH_JOB_ID", "local"),
        attempt=int(env.get("AWS_BATCH_JOB_ATTEMPT", "1")),
        log=logger,
    )
    logger.append_keys(
        job_id=job_id, batch_job_id=context.batch_job_id, attempt=context.attempt, task=task_name
    )
    result: dict[str, Any] = {
        "job_id": job_id,
        "batch_job_id": context.batch_job_id,
        "attempt": context.attempt,
        "task": task_name,
        "started_at": datetime.now(UTC).isoformat(),
    }
    try:
        if not job_id or not task_name:
            raise BadParameters("OVERLORD_JOB_ID and OVERLORD_TASK must be set")
        task = load_task(task_name)
        output = task(_parameters(env), context)
        code, result["status"], result["output"] = EXIT_OK, "SUCCEEDED", output
        logger.info("task succeeded")
    except (UnknownTask, BadParameters) as exc:
        code, result["status"], result["error"] = EXIT_BAD_INPUT, "FAILED", str(exc)
        logger.error(f"bad input: {exc}")
    except TaskExit as exc:
        code, result["status"], result["error"] = exc.exit_code, "FAILED", str(exc)
        logger.error(f"task exited with {exc.exit_code}: {exc}")
    except Exception as exc:
        code, result["status"] = EXIT_FAILED, "FAILED"
        result["error"] = f"{type(exc).__name__}: {exc}"
        logger.exception("task failed")
    result["finished_at"] = datetime.now(UTC).isoformat()
    result["exit_code"] = code
    if job_id:
        try:
            _write_result(env, result)
        except Exception:
            logger.exception("could not write the result")
            code = code or EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(run(dict(os.environ)))
