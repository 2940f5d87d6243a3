"""Run one task as AWS Batch asks and write its result, over a small object-store port.

The result JSON goes to ``s3://RESULTS_BUCKET/results/<job_id>/<batch_job_id>.json``
(`overlord_contracts.bucket_layout.result_key`) whatever the outcome, with ``status``
(SUCCEEDED or FAILED), ``exit_code`` and ``output`` or ``error``.

Exit codes (the process's, which Batch records as the attempt's ``exitCode``):

=====  ===========================================================================
code   meaning
=====  ===========================================================================
0      success; also a task that raises ``TaskExit(0, …)`` (``output`` is null)
1      the task raised; or a ``TaskExit`` code outside 0..255 (kept in the result
       as ``task_exit_code``: an exit status is one byte, 256 would read as 0);
       or the task succeeded but its result could not be written
2      bad input, never retried (the job definition's ``evaluateOnExit``): unknown
       task, OVERLORD_JOB_ID or OVERLORD_TASK unset, parameters not valid JSON, not
       a JSON object or not UTF-8, not matching the task's schema in the catalogue,
       or refused by the task (``BadParameters``); for an array child also the items
       not a JSON list, AWS_BATCH_JOB_ARRAY_INDEX missing or outside the list, or
       its item not an object; with OVERLORD_ITEMS_OFFSETS_URI, no (whole) entry
       for its item there, or one that does not span a JSON object of the list
3-255  chosen by the task with ``TaskExit`` (``fail`` takes it as a parameter)
143    SIGTERM (128 + 15): Batch's attempt timeout or TerminateJob. The task is
       ended, the result says FAILED, ``"terminated: SIGTERM"``. Batch sends
       SIGKILL 30 s later; 137 (SIGKILL) leaves no result.
=====  ===========================================================================

Without OVERLORD_JOB_ID (or RESULTS_BUCKET) no result is written: it has no key.

An array job's child (OVERLORD_ITEMS or OVERLORD_ITEMS_URI, the whole list) runs the item
at AWS_BATCH_JOB_ARRAY_INDEX as its parameters; its result is its own object, keyed by
its Batch job ID `<parent>:<index>`, and says which `index` it ran. Given the list's
offsets too (OVERLORD_ITEMS_OFFSETS_URI, `overlord.domain.item_offsets`), it reads only its
item: its 16-byte entry, then the item's bytes, two ranged GETs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol

from overlord.domain.item_offsets import ENTRY_SIZE, entry_start, read_entry
from overlord.runtime.json_logging import service_logger
from overlord_contracts.bucket_layout import result_key
from overlord_contracts.worker_env import (
    BATCH_JOB_ARRAY_INDEX,
    ITEM_INDEX,
    ITEM_INDICES,
    ITEMS,
    ITEMS_OFFSETS_URI,
    ITEMS_URI,
    JOB_ID,
    PARAMETERS,
    TASK,
    WorkerEnvironment,
)
from overlord_worker import registry
from overlord_worker.registry import BadParameters, Task, TaskContext, TaskExit, UnknownTask

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
STOP_SIGNALS = (signal.SIGTERM,)

logger = service_logger("overlord-worker")


class Objects(Protocol):
    """What the worker needs of S3 (`overlord.adapters.s3.ObjectStore` implements it)."""

    def get_text(self, uri: str) -> str:
        """The text of the object at an ``s3://bucket/key`` URI."""
        ...

    def get_range(self, uri: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from byte `start` of the object at an ``s3://`` URI (fewer
        where it ends first, none beyond its end)."""
        ...

    def put_text(self, key: str, text: str, content_type: str = "application/json") -> str:
        """Write `text` under `key` in the results bucket; return its URI."""
        ...


def _text(objects: Objects, uri: str | None, inline: str | None, default: str) -> str:
    if uri:
        try:
            return objects.get_text(uri)
        except UnicodeDecodeError:
            raise BadParameters(f"{uri} is not UTF-8 text") from None
    return inline if inline is not None else default


def _parameters(env: WorkerEnvironment, objects: Objects) -> dict[str, Any]:
    if env.is_array:
        return _item(env, objects)
    text = _text(objects, env.parameters_uri, env.parameters, "{}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadParameters(f"{PARAMETERS} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadParameters(f"{PARAMETERS} must be a JSON object")
    return value


def _item_index(env: WorkerEnvironment, objects: Objects) -> int:
    """Which item this job runs: its array index, mapped through a re-run's list of
    items when there is one; a re-run of one item names it."""
    if env.item_index is not None:
        if not (env.item_index.isascii() and env.item_index.isdigit()):
            raise BadParameters(f"{ITEM_INDEX} must be an item's index, not {env.item_index!r}")
        return int(env.item_index)
    position = env.index
    if position is None:
        raise BadParameters(
            f"{BATCH_JOB_ARRAY_INDEX} must be set to a child's index, not "
            f"{env.array_index!r} ({ITEMS} is for an array job's children)"
        )
    if env.item_indices is None and env.item_indices_uri is None:
        return position
    try:
        indices = json.loads(_text(objects, env.item_indices_uri, env.item_indices, "[]"))
    except ValueError as exc:
        raise BadParameters(f"{ITEM_INDICES} is not valid JSON: {exc}") from None
    if not (isinstance(indices, list) and position < len(indices)):
        raise BadParameters(f"{ITEM_INDICES} has no entry {position}")
    item = indices[position]
    if not (isinstance(item, int) and item >= 0):
        raise BadParameters(f"{ITEM_INDICES}[{position}] is not an item's index")
    return item


def _item(env: WorkerEnvironment, objects: Objects) -> dict[str, Any]:
    """An array child's parameters: the item at its index."""
    index = _item_index(env, objects)
    if env.items_uri and env.items_offsets_uri:
        return _ranged_item(env.items_uri, env.items_offsets_uri, index, objects)
    try:
        items = json.loads(_text(objects, env.items_uri, env.items, "[]"))
    except ValueError as exc:
        raise BadParameters(f"{ITEMS} is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise BadParameters(f"{ITEMS} must be a JSON list")
    if index >= len(items):
        raise BadParameters(
            f"{BATCH_JOB_ARRAY_INDEX} is {index}, beyond the {len(items)} items of {ITEMS}"
        )
    item = items[index]
    if not isinstance(item, dict):
        raise BadParameters(f"items[{index}] must be a JSON object")
    return item


def _ranged_item(items_uri: str, offsets_uri: str, index: int, objects: Objects) -> dict[str, Any]:
    """Item `index` of the list at `items_uri`, read through its entry in the offsets."""
    entry = objects.get_range(offsets_uri, entry_start(index), ENTRY_SIZE)
    if len(entry) != ENTRY_SIZE:
        # No entry at all: an index beyond the list (as Batch never gives); part of
        # one: the object was cut short.
        raise BadParameters(
            f"{ITEMS_OFFSETS_URI} has no entry for item {index} ({len(entry)} of "
            f"{ENTRY_SIZE} bytes from byte {entry_start(index)} of {offsets_uri})"
        )
    start, length = read_entry(entry)
    where = f"items[{index}] (bytes {start}+{length} of {ITEMS_URI}, from {ITEMS_OFFSETS_URI})"
    if length == 0:
        raise BadParameters(f"{where} is empty")
    data = objects.get_range(items_uri, start, length)
    if len(data) != length:
        raise BadParameters(f"{where} lies beyond the end of {items_uri}")
    try:
        item = json.loads(data.decode())
    except UnicodeDecodeError:
        raise BadParameters(f"{where} is not UTF-8 text") from None
    except ValueError as exc:
        raise BadParameters(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(item, dict):
        raise BadParameters(f"items[{index}] must be a JSON object")
    return item


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


class Terminated(BaseException):
    """A stop signal ended the task (a BaseException: a task's ``except Exception`` cannot
    keep it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated: {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


class _Termination:
    """Signal handler: raises `Terminated` once, while armed (the task running), and
    afterwards only notes the signal, so the result is still written."""

    def __init__(self) -> None:
        self.armed = True
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self.armed:
            self.armed = False
            raise Terminated(signum)


@contextmanager
def _handling(signals: tuple[int, ...], handler: _Termination) -> Iterator[None]:
    """`handler` for `signals` inside the block, the previous handlers after it.

    Python handles signals in the main thread only; elsewhere nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)


def _run(
    env: WorkerEnvironment,
    objects: Objects,
    load_task: Callable[[str], Task],
    context: TaskContext,
    result: dict[str, Any],
) -> int:
    """Run the task, fill `result` with its outcome, return the exit code."""
    try:
        if not env.job_id or not env.task:
            raise BadParameters(f"{JOB_ID} and {TASK} must be set")
        task = load_task(env.task)
        output = task(_parameters(env, objects), context)
        result["status"], result["output"] = "SUCCEEDED", output
        logger.info("task succeeded")
        return EXIT_OK
    except (UnknownTask, BadParameters) as exc:
        result["status"], result["error"] = "FAILED", str(exc)
        logger.error(f"bad input: {exc}")
        return EXIT_BAD_INPUT
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
        return code
    except Exception as exc:
        result["status"], result["error"] = "FAILED", f"{type(exc).__name__}: {exc}"
        logger.exception("task failed")
        return EXIT_FAILED


def run_task(
    env: WorkerEnvironment,
    objects: Objects,
    *,
    load_task: Callable[[str], Task] = registry.load_task,
) -> int:
    """Run the task `env` names, write its result through `objects`; return the exit code.

    `objects` writes into `env.results_bucket`; nothing is written when that is unset.
    While it runs (in the main thread), SIGTERM ends the task with exit code 143 and a
    FAILED result; the previous handler is restored on return.
    """
    # The item an array job's child runs (a re-run maps its array index to it); a
    # problem with it is reported by _run as bad input.
    item: int | None = None
    if env.is_array:
        with contextlib.suppress(BadParameters, ValueError, LookupError, OSError):
            item = _item_index(env, objects)
    context = TaskContext(
        job_id=env.job_id,
        batch_job_id=env.batch_job_id,
        attempt=env.attempt,
        log=logger,
        index=item,
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
    if env.is_array:
        logger.append_keys(index=item)
        result["index"] = item
    termination = _Termination()
    with _handling(STOP_SIGNALS, termination):
        try:
            try:
                code = _run(env, objects, load_task, context, result)
            finally:
                termination.armed = False  # from here on a signal is only noted
        except Terminated as exc:
            # Drop what a half-finished outcome may have set.
            for field in ("output", "message", "task_exit_code"):
                result.pop(field, None)
            code, result["status"], result["error"] = exc.exit_code, "FAILED", str(exc)
            logger.error(str(exc))
        result["finished_at"] = datetime.now(UTC).isoformat()
        result["exit_code"] = code
        if env.job_id:
            try:
                _write_result(env, objects, result)
            except Exception:
                logger.exception("could not write the result")
                code = code or EXIT_FAILED
        if termination.received is not None and code != 128 + termination.received:
            name = signal.Signals(termination.received).name
            logger.warning(f"{name} received after the task had ended; its exit code stands")
    return code
