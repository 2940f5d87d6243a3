"""The worker's service over an in-memory object store: no S3, no subprocess."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from overlord.domain.item_offsets import ENTRY, item_offsets
from overlord_contracts.worker_env import WorkerEnvironment
from overlord_worker.registry import BadParameters, Task, TaskContext, TaskExit, UnknownTask
from overlord_worker.service import run_task

BUCKET = "results"
RESULT_URI = f"s3://{BUCKET}/results/job-1/batch-1.json"


class FakeObjects:
    """The `Objects` port in memory: texts (and binary objects) by s3:// URI; it notes
    each read as (uri, start, length), length None for a whole object."""

    def __init__(
        self,
        texts: dict[str, str] | None = None,
        *,
        blobs: dict[str, bytes] | None = None,
        fail_puts: bool = False,
    ) -> None:
        self.texts = dict(texts or {})
        self.blobs = dict(blobs or {})
        self.fail_puts = fail_puts
        self.reads: list[tuple[str, int, int | None]] = []

    def get_text(self, uri: str) -> str:
        self.reads.append((uri, 0, None))
        if uri not in self.texts:
            raise LookupError(f"NoSuchKey: {uri}")
        return self.texts[uri]

    def get_range(self, uri: str, start: int, length: int) -> bytes:
        self.reads.append((uri, start, length))
        if uri in self.blobs:
            data = self.blobs[uri]
        elif uri in self.texts:
            data = self.texts[uri].encode()
        else:
            raise LookupError(f"NoSuchKey: {uri}")
        return data[start : start + length]

    def put_text(self, key: str, text: str, content_type: str = "application/json") -> str:
        if self.fail_puts:
            raise ConnectionError("S3 unreachable")
        uri = f"s3://{BUCKET}/{key}"
        self.texts[uri] = text
        return uri

    def result(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.texts[RESULT_URI])
        return value


def environment(**overrides: Any) -> WorkerEnvironment:
    values: dict[str, Any] = {
        "job_id": "job-1",
        "task": "t",
        "parameters": "{}",
        "parameters_uri": None,
        "results_bucket": BUCKET,
        "batch_job_id": "batch-1",
        "attempt": 1,
    }
    return WorkerEnvironment(**{**values, **overrides})


def only(task: Task, name: str = "t") -> Callable[[str], Task]:
    """A `load_task` that knows one task."""

    def load(wanted: str) -> Task:
        if wanted != name:
            raise UnknownTask(f"unknown task {wanted!r}")
        return task

    return load


def returns(value: Any) -> Task:
    return lambda parameters, context: value


def raises(exc: BaseException) -> Task:
    def task(parameters: dict[str, Any], context: TaskContext) -> Any:
        raise exc

    return task


def run(task: Task, objects: FakeObjects | None = None, /, **env: Any) -> tuple[int, FakeObjects]:
    objects = objects if objects is not None else FakeObjects()
    return run_task(environment(**env), objects, load_task=only(task)), objects


def test_success_writes_the_output_under_the_result_key():
    seen: list[tuple[dict[str, Any], TaskContext]] = []

    def task(parameters: dict[str, Any], context: TaskContext) -> Any:
        seen.append((parameters, context))
        return {"echo": parameters["x"]}

    code, objects = run(task, parameters='{"x": 1}', attempt=3)
    assert code == 0
    result = objects.result()
    assert result["status"] == "SUCCEEDED" and result["output"] == {"echo": 1}
    assert result["exit_code"] == 0 and result["attempt"] == 3
    assert {"job_id", "batch_job_id", "task", "started_at", "finished_at"} <= result.keys()
    parameters, context = seen[0]
    assert parameters == {"x": 1}
    assert (context.job_id, context.batch_job_id, context.attempt) == ("job-1", "batch-1", 3)


def test_parameters_are_read_from_the_uri_when_given():
    uri = "s3://inputs/params/job-1.json"
    objects = FakeObjects({uri: '{"x": "big"}'})
    code, _ = run(lambda p, c: p, objects, parameters=None, parameters_uri=uri)
    assert code == 0 and objects.result()["output"] == {"x": "big"}


def test_no_parameters_at_all_is_an_empty_object():
    code, objects = run(lambda p, c: p, parameters=None)
    assert code == 0 and objects.result()["output"] == {}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"parameters": "{nope"}, "not valid JSON"),
        ({"parameters": "[1, 2]"}, "must be a JSON object"),
        ({"parameters": '"text"'}, "must be a JSON object"),
        ({"task": ""}, "OVERLORD_JOB_ID and OVERLORD_TASK must be set"),
        ({"task": "other"}, "unknown task 'other'"),
    ],
)
def test_bad_input_exits_2_with_a_failed_result(env, says):
    code, objects = run(returns("never"), **env)
    result = objects.result()
    assert code == 2 and result["exit_code"] == 2
    assert result["status"] == "FAILED" and says in result["error"]


def test_parameters_object_that_is_not_text_is_bad_input():
    uri = "s3://inputs/p.json"
    objects = FakeObjects({uri: "{}"})
    objects.get_text = lambda uri: b"\xff".decode()  # type: ignore[method-assign]
    code, _ = run(returns("never"), objects, parameters_uri=uri)
    assert code == 2 and "not UTF-8" in objects.result()["error"]


def test_without_a_job_id_exits_2_and_writes_nothing():
    code, objects = run(returns("never"), job_id="")
    assert code == 2 and objects.texts == {}


def test_unknown_task_through_the_entry_points_names_the_installed_ones():
    objects = FakeObjects()
    code = run_task(environment(task="nope"), objects)
    assert code == 2
    error = objects.result()["error"]
    assert "unknown task 'nope'" in error and "echo" in error


def test_a_built_in_task_runs_through_the_entry_points():
    objects = FakeObjects()
    code = run_task(environment(task="echo", parameters='{"message": "hi"}'), objects)
    assert code == 0 and objects.result()["output"] == {"message": "hi"}


def test_bad_parameters_from_the_task_exit_2():
    code, objects = run(raises(BadParameters("x: must be positive")))
    assert code == 2 and objects.result()["error"] == "x: must be positive"


def test_a_task_that_raises_exits_1_naming_the_exception():
    code, objects = run(raises(RuntimeError("boom")))
    result = objects.result()
    assert code == 1 and result["status"] == "FAILED"
    assert result["error"] == "RuntimeError: boom"


def test_task_exit_chooses_the_code():
    code, objects = run(raises(TaskExit(7, "seven")))
    result = objects.result()
    assert code == 7 and result["exit_code"] == 7
    assert result["status"] == "FAILED" and result["error"] == "seven"


def test_without_a_results_bucket_nothing_is_written_and_the_code_stands():
    objects = FakeObjects()
    code, _ = run(raises(TaskExit(5, "five")), objects, results_bucket=None)
    assert code == 5 and objects.texts == {}


def test_a_success_whose_result_cannot_be_written_exits_1():
    code, _ = run(returns("ok"), FakeObjects(fail_puts=True))
    assert code == 1


def test_a_failure_whose_result_cannot_be_written_keeps_its_code():
    code, _ = run(raises(TaskExit(9, "nine")), FakeObjects(fail_puts=True))
    assert code == 9


def test_an_output_json_cannot_encode_is_written_as_text():
    code, objects = run(returns({"when": datetime(2026, 1, 2, tzinfo=UTC)}))
    assert code == 0 and objects.result()["output"] == {"when": "2026-01-02 00:00:00+00:00"}


def test_task_exit_0_is_a_success():
    code, objects = run(raises(TaskExit(0, "nothing to do")))
    result = objects.result()
    assert code == 0 and result["exit_code"] == 0
    assert result["status"] == "SUCCEEDED" and result["message"] == "nothing to do"
    assert "error" not in result


@pytest.mark.parametrize("chosen", [256, 512, 1000, -1, -15])
def test_task_exit_codes_outside_1_to_255_become_1(chosen):
    # A process exit status is one byte: 256 would reach Batch as 0, a success.
    code, objects = run(raises(TaskExit(chosen, "odd")))
    result = objects.result()
    assert code == 1 and result["exit_code"] == 1
    assert result["status"] == "FAILED" and result["task_exit_code"] == chosen
    assert "odd" in result["error"]


@pytest.mark.parametrize("chosen", [1, 3, 255])
def test_task_exit_codes_in_range_are_kept(chosen):
    code, objects = run(raises(TaskExit(chosen, "x")))
    assert code == chosen and "task_exit_code" not in objects.result()


@pytest.fixture
def sigterm_kept_from_pytest() -> Iterator[list[int]]:
    """Record a SIGTERM the worker does not handle, instead of letting it end pytest."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    yield received
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_ends_the_task_with_a_failed_result_and_143(sigterm_kept_from_pytest):
    after: list[str] = []

    def task(parameters: dict[str, Any], context: TaskContext) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # what Batch sends on timeout or TerminateJob
        time.sleep(5)
        after.append("the task went on")
        return "finished"

    code, objects = run(task)
    result = objects.result()
    assert code == 143 and result["exit_code"] == 143
    assert result["status"] == "FAILED" and result["error"] == "terminated: SIGTERM"
    assert after == []  # the task did not go on after the signal
    assert sigterm_kept_from_pytest == []  # the worker's handler took it ...
    os.kill(os.getpid(), signal.SIGTERM)
    assert sigterm_kept_from_pytest == [signal.SIGTERM]  # ... and gave the old one back


def test_a_task_cannot_swallow_the_termination(sigterm_kept_from_pytest):
    def task(parameters: dict[str, Any], context: TaskContext) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Exception:
            return "swallowed"
        return "finished"

    code, objects = run(task)
    assert code == 143 and objects.result()["error"] == "terminated: SIGTERM"


def test_sigterm_while_the_result_is_written_does_not_stop_the_write(sigterm_kept_from_pytest):
    class SignalledWhileWriting(FakeObjects):
        def put_text(self, key: str, text: str, content_type: str = "application/json") -> str:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here
            return super().put_text(key, text, content_type)

    code, objects = run(returns("done"), SignalledWhileWriting())
    assert code == 0 and objects.result()["status"] == "SUCCEEDED"
    assert sigterm_kept_from_pytest == []


# ---------------------------------------------------------------- array children

ITEMS = [{"message": "zero"}, {"message": "one"}, {"message": "two"}]
CHILD_RESULT_URI = f"s3://{BUCKET}/results/job-1/parent-1:1.json"


def child(**overrides: Any) -> WorkerEnvironment:
    values: dict[str, Any] = {
        "parameters": None,
        "items": json.dumps(ITEMS),
        "array_index": "1",
        "batch_job_id": "parent-1:1",
    }
    return environment(**{**values, **overrides})


def seen_parameters() -> tuple[Task, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def task(parameters: dict[str, Any], context: TaskContext) -> Any:
        seen.append(parameters)
        return {"index": context.index}

    return task, seen


def test_an_array_child_runs_the_item_at_its_index_and_writes_its_own_result():
    objects = FakeObjects()
    task, seen = seen_parameters()
    assert run_task(child(), objects, load_task=only(task)) == 0
    assert seen == [{"message": "one"}]
    result = json.loads(objects.texts[CHILD_RESULT_URI])
    assert result["index"] == 1 and result["output"] == {"index": 1}
    assert result["batch_job_id"] == "parent-1:1"


def test_an_array_child_reads_the_items_from_s3_when_given_a_uri():
    uri = f"s3://{BUCKET}/params/job-1.json"
    objects = FakeObjects({uri: json.dumps(ITEMS)})
    task, seen = seen_parameters()
    code = run_task(
        child(items=None, items_uri=uri, array_index="2", batch_job_id="parent-1:2"),
        objects,
        load_task=only(task),
    )
    assert code == 0 and seen == [{"message": "two"}]
    assert objects.reads == [(uri, 0, None)]  # no offsets (an older submission): all of it


# Items whose characters take 1 to 4 bytes in UTF-8, and strings holding the list's own
# separators: a span counted in characters, or found by splitting, would be wrong.
RANGED_ITEMS = [
    {"message": "zero"},
    {"message": "naïve ☃ },{ 𝄞"},
    {"message": "two", "n": [1, {"x": "]"}]},
    {"message": 'three \u2028 "quoted"'},
]
ITEMS_URI = f"s3://{BUCKET}/params/job-1.json"
OFFSETS_URI = f"s3://{BUCKET}/params/job-1.offsets"


def ranged(
    list_bytes: bytes | None = None, offsets: bytes | None = None, **overrides: Any
) -> tuple[WorkerEnvironment, FakeObjects]:
    """An array child given its list's URI and offsets, and the store holding both."""
    if list_bytes is None:
        list_bytes = json.dumps(RANGED_ITEMS, ensure_ascii=False, separators=(",", ":")).encode()
    if offsets is None:
        offsets = item_offsets(list_bytes.decode())
    objects = FakeObjects(blobs={ITEMS_URI: list_bytes, OFFSETS_URI: offsets})
    values = {"items": None, "items_uri": ITEMS_URI, "items_offsets_uri": OFFSETS_URI}
    return child(**{**values, **overrides}), objects


def test_an_array_child_given_offsets_reads_only_its_entry_and_its_item():
    env, objects = ranged()
    task, seen = seen_parameters()
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [RANGED_ITEMS[1]]
    [entry, item] = objects.reads
    assert entry == (OFFSETS_URI, 16, 16)
    own = json.dumps(RANGED_ITEMS[1], ensure_ascii=False, separators=(",", ":")).encode()
    assert item == (ITEMS_URI, LIST.index(own), len(own))
    assert json.loads(objects.texts[CHILD_RESULT_URI])["index"] == 1


@pytest.mark.parametrize("index", range(len(RANGED_ITEMS)))
def test_every_child_reads_its_own_item_through_the_offsets(index):
    env, objects = ranged(array_index=str(index), batch_job_id=f"parent-1:{index}")
    task, seen = seen_parameters()
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [RANGED_ITEMS[index]]
    assert all(length is not None for _, _, length in objects.reads)


def test_a_rerun_child_given_offsets_maps_its_array_index_first():
    env, objects = ranged(item_indices="[0, 3]", array_index="1")
    task, seen = seen_parameters()
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [RANGED_ITEMS[3]]
    assert objects.reads[0] == (OFFSETS_URI, 48, 16)
    assert json.loads(objects.texts[CHILD_RESULT_URI])["index"] == 3


def test_a_rerun_of_one_item_given_offsets_reads_that_item():
    env, objects = ranged(item_index="2", array_index=None, batch_job_id="rerun-1")
    task, seen = seen_parameters()
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [RANGED_ITEMS[2]] and objects.reads[0] == (OFFSETS_URI, 32, 16)


LIST = json.dumps(RANGED_ITEMS, ensure_ascii=False, separators=(",", ":")).encode()
OFFSETS = item_offsets(LIST.decode())


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"offsets": OFFSETS[:16]},
            "OVERLORD_ITEMS_OFFSETS_URI has no entry for item 1 (0 of 16 bytes from byte 16 of "
            f"{OFFSETS_URI})",
        ),
        ({"offsets": OFFSETS[:24]}, "no entry for item 1 (8 of 16 bytes from byte 16"),
        ({"offsets": b""}, "OVERLORD_ITEMS_OFFSETS_URI has no entry for item 1"),
        (
            {"offsets": OFFSETS[:16] + ENTRY.pack(len(LIST) - 2, 10)},
            f"items[1] (bytes {len(LIST) - 2}+10 of OVERLORD_ITEMS_URI, from "
            f"OVERLORD_ITEMS_OFFSETS_URI) lies beyond the end of {ITEMS_URI}",
        ),
        ({"offsets": OFFSETS[:16] + ENTRY.pack(5, 0)}, "items[1] (bytes 5+0 of"),
        ({"offsets": OFFSETS[:16] + ENTRY.pack(0, 20)}, ") is not valid JSON: "),
        ({"list_bytes": b'[{"a":1},[1]]'}, "items[1] must be a JSON object"),
        ({"list_bytes": b'[{"a":1},{"a":"\xff"}]'}, ") is not UTF-8 text"),
    ],
)
def test_unusable_offsets_are_bad_input_naming_the_variable(given, message):
    if "list_bytes" in given and "offsets" not in given:
        given["offsets"] = ENTRY.pack(1, 7) + ENTRY.pack(9, len(given["list_bytes"]) - 10)
    env, objects = ranged(**given)
    task, seen = seen_parameters()
    assert run_task(env, objects, load_task=only(task)) == 2
    assert seen == []
    assert message in json.loads(objects.texts[CHILD_RESULT_URI])["error"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"array_index": None}, "AWS_BATCH_JOB_ARRAY_INDEX must be set"),
        ({"array_index": "-1"}, "AWS_BATCH_JOB_ARRAY_INDEX must be set"),
        ({"array_index": "x"}, "AWS_BATCH_JOB_ARRAY_INDEX must be set"),
        ({"array_index": "3", "batch_job_id": "parent-1:3"}, "is 3, beyond the 3 items"),
        ({"items": "{}"}, "OVERLORD_ITEMS must be a JSON list"),
        ({"items": "[1,"}, "OVERLORD_ITEMS is not valid JSON"),
        ({"items": "[0, 1]"}, "items[1] must be a JSON object"),
    ],
)
def test_an_unusable_array_child_is_bad_input(overrides, message):
    objects = FakeObjects()
    task, seen = seen_parameters()
    assert run_task(child(**overrides), objects, load_task=only(task)) == 2
    assert seen == []
    [text] = objects.texts.values()
    assert message in json.loads(text)["error"]


def test_the_catalogue_check_names_the_item():
    from overlord_worker.registry import load_task

    env = child(task="sleep", items=json.dumps([{"seconds": 0}, {"seconds": "x"}]))
    objects = FakeObjects()
    assert run_task(env, objects, load_task=load_task) == 2
    assert json.loads(objects.texts[CHILD_RESULT_URI])["error"].startswith(
        "items[1].seconds: 'x' is not of type"
    )


def test_a_childs_job_id_carries_its_index_even_if_batch_gave_the_parents():
    from overlord_contracts.worker_env import WorkerEnvironment as Env

    given = {"AWS_BATCH_JOB_ID": "parent-1", "AWS_BATCH_JOB_ARRAY_INDEX": "4"}
    assert Env.from_env(given).batch_job_id == "parent-1:4"
    given["AWS_BATCH_JOB_ID"] = "parent-1:4"
    assert Env.from_env(given).batch_job_id == "parent-1:4"


def test_a_rerun_child_maps_its_array_index_to_the_item_it_runs():
    objects = FakeObjects()
    task, seen = seen_parameters()
    env = child(item_indices="[0, 2]", array_index="1", batch_job_id="parent-1:1")
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [{"message": "two"}]
    result = json.loads(objects.texts[CHILD_RESULT_URI])
    assert result["index"] == 2 and result["output"] == {"index": 2}


def test_a_rerun_of_one_item_is_a_plain_job_naming_it():
    objects = FakeObjects()
    task, seen = seen_parameters()
    env = child(item_index="2", array_index=None, batch_job_id="rerun-1")
    assert run_task(env, objects, load_task=only(task)) == 0
    assert seen == [{"message": "two"}]
    assert json.loads(objects.texts[f"s3://{BUCKET}/results/job-1/rerun-1.json"])["index"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"item_indices": "[0]", "array_index": "1"}, "OVERLORD_ITEM_INDICES has no entry 1"),
        ({"item_indices": "[0, -1]", "array_index": "1"}, "OVERLORD_ITEM_INDICES[1] is not"),
        ({"item_index": "x"}, "OVERLORD_ITEM_INDEX must be an item's index"),
    ],
)
def test_an_unusable_rerun_selection_is_bad_input(overrides, message):
    objects = FakeObjects()
    task, seen = seen_parameters()
    assert run_task(child(**overrides), objects, load_task=only(task)) == 2
    assert seen == []
    [text] = objects.texts.values()
    assert message in json.loads(text)["error"]
