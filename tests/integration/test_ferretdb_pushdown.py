"""Our FerretDB build answers the store's filters from indexes.

FerretDB 1.24's SQLite backend pushes a filter down to SQL only when it is exactly
`{_id: <string|ObjectID>}`; everything else reads and decodes the whole collection, so
a conditional update (`{_id: x, status_rank: {$lt: n}}`) or the log lines of one run
(`{batch_job_id: x}`) cost O(collection). And even the SQL it pushes down scans the
table, its `_id` expression being spelled otherwise than the `_id` index's.
local/ferretdb/patches fixes these (0001, 0002: `_id`; 0004, 0006: equalities on other
top-level fields, as a superset that keeps arrays, and `$exists: false`; 0006 also
counts equalities in SQL). These tests run against a FerretDB
process of our build (whatever MongoDB the rest of the session uses), since `make dev`
runs on it:

* every `_id`-keyed filter MongoStore sends (captured with pymongo's command monitoring
  while the real store methods run, on the submit, record, re-run, cancel and reconcile
  paths) is pushed down and searched in the `_id` index (`explain`: filterPushdown, and
  SQLite's plan);
* the other filters are pushed down and searched in an index too, but for the reads
  documented as scanning (docs/performance.md), so a new scanning shape fails here;
* the server still applies the rest of the filter: an `_id` with a condition that does
  not hold matches nothing, for every command that takes a filter; and a pushed-down
  field equality matches exactly what the same equality not pushed down does
  (`{k: {$eq: v}}`), arrays, escapes and missing fields included; so does a `count`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from overlord.adapters.mongo_store import MongoStore
from overlord.domain import schema
from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import JobFilter, LogFilter, TerminalCopy
from overlord_local.devstack.ferretdb import FerretDB

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)

# Store methods whose filters no index answers on FerretDB, and why that is acceptable:
# the reconcile sweep, once a tick (status sets and time ranges, no string equality).
# Nothing on the submit or record path, nor the API's reads of one job. (`list_jobs`
# scans too when GET /jobs has no status or task filter: not exercised here.)
# docs/performance.md.
SCANNING_READS = {"stale_jobs", "unsettled_runs"}

FILTERED_COMMANDS = {
    "find": ("find", "filter"),
    "findAndModify": ("findAndModify", "query"),
    "count": ("count", "query"),
}


@dataclass
class Filters(monitoring.CommandListener):
    """Every (store method, collection, filter) the client sends."""

    label: str = "?"
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        name = event.command_name
        if name in ("update", "delete"):
            key = "updates" if name == "update" else "deletes"
            for statement in command[key]:
                self.seen.append((self.label, command[name], dict(statement["q"])))
        elif name in FILTERED_COMMANDS:
            collection_key, filter_key = FILTERED_COMMANDS[name]
            self.seen.append(
                (self.label, command[collection_key], dict(command.get(filter_key) or {}))
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def ferretdb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = FerretDB(tmp_path_factory.mktemp("ferretdb-pushdown"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def watched(ferretdb_uri: str) -> Iterator[tuple[Database[Any], Filters]]:
    filters = Filters()
    client: MongoClient[dict[str, Any]] = MongoClient(
        ferretdb_uri, tz_aware=True, event_listeners=[filters]
    )
    name = f"p_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name], filters
    finally:
        client.drop_database(name)
        client.close()


def explain_pushdown(db: Database[Any], collection: str, query: dict[str, Any]) -> bool:
    """FerretDB pushes the filter down to SQL, and SQLite answers it from an index only.

    FerretDB explains find/count/aggregate only; the backend decides the pushdown of an
    update's or findAndModify's filter with the same code (Query and Explain), and its
    UPDATE/DELETE statements use the same `_id` expression as the SELECT explained here.
    """
    answer = db.command("explain", {"find": collection, "filter": query})
    plan = " ".join(answer["queryPlanner"]["Plan"])
    searches_an_index = "SEARCH" in plan and "USING INDEX" in plan and "SCAN" not in plan
    return bool(answer["filterPushdown"]) and searches_an_index


def keyed_by_id(query: dict[str, Any]) -> bool:
    return isinstance(query.get("_id"), str | ObjectId)


def job_document(message: str) -> schema.JobDocument:
    request = validate_job_request({"task": "echo", "parameters": {"message": message}})
    return schema.new_job(request, NOW)


def submitted_run(job_id: str, batch_job_id: str, run_number: int = 1) -> schema.RunDocument:
    doc = schema.new_run(batch_job_id=batch_job_id, job_id=job_id, run_number=run_number, at=NOW)
    doc["status"], doc["status_rank"], doc["status_history"] = "SUBMITTED", 1, {"SUBMITTED": NOW}
    return doc


def observation(job_id: str, batch_job_id: str, status: str, step: int) -> RunObservation:
    attempts: tuple[Attempt, ...] = ()
    if status in ("SUCCEEDED", "FAILED"):
        attempts = (Attempt(1, NOW, NOW, 0, None, f"echo/default/{batch_job_id}"),)
    return RunObservation(
        batch_job_id=batch_job_id,
        job_id=job_id,
        status=status,
        observed_at=NOW + timedelta(seconds=step),
        attempts=attempts,
    )


def exercise_the_store(store: MongoStore, filters: Filters) -> None:
    """Every store method, through the paths the services take (common and unusual)."""

    def call(method: str, *args: Any) -> Any:
        filters.label = method
        return getattr(store, method)(*args)

    store.ensure_indexes()
    # submit: a new job, its run and first log lines
    job = job_document("pushdown")
    job_id = job["_id"]
    call("claim_job", dict(job), "a", NOW, LEASE)
    call("record_submitted_run", submitted_run(job_id, "b-1"), NOW)
    call("append_logs", [schema.state_record(job_id, "b-1", "SUBMITTED", NOW, None)])
    # the same request again (a live claim, then a lapsed one), a failed submission
    call("claim_job", dict(job), "b", NOW, LEASE)
    call("claim_job", dict(job), "b", NOW + 2 * LEASE, LEASE)
    call("mark_submit_failed", job_id, "Batch said no", NOW)
    call("claim_job", dict(job), "c", NOW, LEASE)
    call("record_submitted_run", submitted_run(job_id, "b-2", run_number=2), NOW)
    # record: forward, duplicate, late, terminal with its copy, contradicting
    call("apply_observation", observation(job_id, "b-2", "RUNNABLE", 1), NOW)
    call("apply_observation", observation(job_id, "b-2", "RUNNABLE", 1), NOW)
    call("apply_observation", observation(job_id, "b-2", "PENDING", 0), NOW)
    call("get_run", "b-2")
    call("get_job", job_id)
    copy = TerminalCopy(result={"uri": "s3://r/k", "size": 2, "summary": {}}, logs_copied=True)
    call("apply_observation", observation(job_id, "b-2", "SUCCEEDED", 5), NOW, copy)
    call("apply_observation", observation(job_id, "b-2", "FAILED", 6), NOW)
    # an event ahead of the submitter, and the submitter adopting that run
    raced = job_document("raced")
    call("claim_job", dict(raced), "d", NOW, LEASE)
    call("apply_observation", observation(raced["_id"], "b-3", "RUNNABLE", 1), NOW)
    call("record_submitted_run", submitted_run(raced["_id"], "b-3"), NOW)
    call("apply_observation", observation("job-" + "0" * 32, "b-x", "RUNNING", 1), NOW)
    # an SQS batch: forward together; SUBMITTED as the submitter left it; then a batch
    # that takes the late path (a duplicate, a run not recorded yet, a contradiction)
    together = job_document("together")
    call("claim_job", dict(together), "h", NOW, LEASE)
    call("record_submitted_run", submitted_run(together["_id"], "b-4"), NOW)
    submitted = observation(together["_id"], "b-4", "SUBMITTED", 0)
    call("apply_observations", [(submitted, None)], NOW)
    running = observation(together["_id"], "b-4", "RUNNING", 2)
    call(
        "apply_observations",
        [(observation(together["_id"], "b-4", "RUNNABLE", 1), None), (running, None)],
        NOW,
    )
    late = [
        (running, None),
        (observation(raced["_id"], "b-5", "RUNNABLE", 1), None),
        (observation(together["_id"], "b-4", "FAILED", 3), copy),
    ]
    call("apply_observations", late, NOW)
    # re-run, cancel, reconcile's writes
    call("claim_new_run", job_id, "e", NOW, LEASE)
    call("record_cancel", "b-3", {"at": NOW, "by": None, "reason": "r", "action": "CancelJob"})
    call("clear_cancel", "b-3")
    call("mark_reconciled", [job_id, raced["_id"]], NOW)
    call("mark_logs_settled", ["b-1", "b-2"])
    # an array job: its items, its parent run, children's first, later, duplicate and
    # terminal events, the parent's, a re-run of some items
    array = validate_job_request({"task": "echo", "items": [{"message": "a"}, {"message": "b"}]})
    call("claim_job", dict(schema.new_job(array, NOW)), "f", NOW, LEASE)
    call("save_items", schema.new_items(array))
    call("save_items", schema.new_items(array))
    call("get_items", array.job_id)
    parent = submitted_run(array.job_id, "p-1")
    parent["array"] = {"size": 2}
    call("record_submitted_run", parent, NOW)
    for status, step in (("PENDING", 0), ("RUNNABLE", 1), ("PENDING", 0), ("SUCCEEDED", 5)):
        child = replace(observation(array.job_id, "p-1:0", status, step), parent="p-1", index=0)
        call("apply_observation", child, NOW)
    ended = replace(observation(array.job_id, "p-1", "FAILED", 6), array_size=2)
    call("apply_observation", ended, NOW, TerminalCopy(result=None, logs_copied=True))
    call("children", "p-1")
    call("children", "p-1", "FAILED")
    call("count_children", "p-1")
    call("complete_array", "p-1", NOW)
    call("claim_new_run", array.job_id, "g", NOW, LEASE, [1])
    # the reads
    call("list_jobs", JobFilter(status="SUCCEEDED"), None, 10)
    call("list_runs", job_id)
    call("list_logs", "b-2", LogFilter(), None, 10)
    call("stale_jobs", ["RUNNABLE"], NOW, 10)
    call("unsettled_runs", 10)


def test_every_id_keyed_filter_of_the_store_is_pushed_down(watched):
    db, filters = watched
    exercise_the_store(MongoStore(db), filters)
    keyed = [(label, c, q) for label, c, q in filters.seen if keyed_by_id(q)]
    # the conditional shapes the patch is for are among them (not just `{_id: x}`)
    assert {label for label, _, q in keyed if len(q) > 1} >= {
        "claim_job",
        "claim_new_run",
        "mark_submit_failed",
        "record_submitted_run",
        "apply_observation",
        "apply_observations",
    }
    scanned = [(label, c, q) for label, c, q in keyed if not explain_pushdown(db, c, q)]
    assert scanned == []


def test_only_the_documented_reads_are_not_answered_from_an_index(watched):
    db, filters = watched
    exercise_the_store(MongoStore(db), filters)
    unkeyed = [(label, c, q) for label, c, q in filters.seen if not keyed_by_id(q)]
    # the reads patch 0004 is for are among them: one run's lines, one job's runs, an
    # array's children, jobs by status
    assert {label for label, _, _ in unkeyed} >= {
        "list_logs",
        "list_runs",
        "children",
        "count_children",
    }
    scanning = {label for label, c, q in unkeyed if not explain_pushdown(db, c, q)}
    assert scanning == SCANNING_READS


CONDITIONS = [
    pytest.param({"status": "RUNNING"}, id="equality"),
    pytest.param({"rank": {"$lt": 2}}, id="comparison"),
    pytest.param({"latest.status": "RUNNING"}, id="dotted path"),
    pytest.param({"$or": [{"status": "RUNNING"}, {"rank": {"$gt": 9}}]}, id="$or"),
    pytest.param({"claim": {"$exists": False}}, id="$exists"),
]


@pytest.fixture
def one_document(watched):
    db, _ = watched
    doc = {"_id": "job-1", "status": "SUCCEEDED", "rank": 7, "latest": {"status": "SUCCEEDED"}}
    doc["claim"] = None
    db.jobs.insert_many([doc, {**doc, "_id": "job-2"}])
    return db


@pytest.mark.parametrize("condition", CONDITIONS)
def test_an_id_with_a_condition_that_does_not_hold_matches_nothing(one_document, condition):
    db = one_document
    query = {"_id": "job-1", **condition}
    assert explain_pushdown(db, "jobs", query)
    assert db.jobs.update_one(query, {"$set": {"touched": True}}).matched_count == 0
    assert db.jobs.update_many(query, {"$set": {"touched": True}}).matched_count == 0
    assert db.jobs.find_one_and_update(query, {"$set": {"touched": True}}) is None
    assert list(db.jobs.find(query)) == []
    assert db.jobs.count_documents(query) == 0
    assert db.jobs.delete_one(query).deleted_count == 0
    assert db.jobs.count_documents({"touched": True}) == 0
    assert db.jobs.count_documents({}) == 2


def test_an_id_with_a_condition_that_holds_matches_that_document_only(one_document):
    db = one_document
    query = {"_id": "job-1", "status": "SUCCEEDED", "rank": {"$gt": 5}}
    assert db.jobs.update_one(query, {"$set": {"touched": True}}).modified_count == 1
    assert [d["_id"] for d in db.jobs.find({"touched": True})] == ["job-1"]
    assert db.jobs.delete_one(query).deleted_count == 1
    assert [d["_id"] for d in db.jobs.find()] == ["job-2"]


def test_an_id_that_is_not_a_plain_value_is_not_pushed_down(one_document):
    db = one_document
    # $in and ranges stay with the handler's own filtering (and still answer right)
    for query in ({"_id": {"$in": ["job-1"]}, "rank": 7}, {"_id": {"$gt": "job-1"}}):
        assert not explain_pushdown(db, "jobs", query)
    assert db.jobs.count_documents({"_id": {"$in": ["job-1"]}, "rank": 7}) == 1
    assert [d["_id"] for d in db.jobs.find({"_id": {"$gt": "job-1"}})] == ["job-2"]


# Values of one field across documents: equal, unequal, arrays holding it or not,
# escapes JSON writes differently, other types, null, missing (FerretDB refuses nested
# arrays).
VALUES: list[Any] = [
    "x",
    "y",
    ["x", "z"],
    ["y"],
    [],
    'é ☃ <&> \\ " / \u2028',
    ['é ☃ <&> \\ " / \u2028'],
    "[x]",
    "",
    7,
    None,
    {"x": 1},
    True,
]
PROBES = ["x", "y", 'é ☃ <&> \\ " / \u2028', "[x]", "", "absent", "\\"]


@pytest.fixture
def varied(watched):
    db, _ = watched
    docs = [{"_id": f"d{i}", "k": v, "n": v} for i, v in enumerate(VALUES)]
    docs.append({"_id": "missing"})
    db.things.insert_many(docs)
    db.things.create_index([("k", 1), ("_id", 1)], name="by_k")  # `n`: no index
    return db


def ids(cursor: Any) -> list[str]:
    return sorted(d["_id"] for d in cursor)


@pytest.mark.parametrize("field", ["k", "n"])
@pytest.mark.parametrize("probe", PROBES)
def test_a_pushed_down_field_equality_matches_what_the_unpushed_one_does(varied, field, probe):
    db = varied
    pushed, reference = {field: probe}, {field: {"$eq": probe}}
    answer = db.command("explain", {"find": "things", "filter": pushed})
    assert answer["filterPushdown"], answer
    assert not db.command("explain", {"find": "things", "filter": reference})["filterPushdown"]
    if field == "k":
        assert explain_pushdown(db, "things", pushed)
    expected = ids(db.things.find(reference))
    assert ids(db.things.find(pushed)) == expected
    assert db.things.count_documents(pushed) == len(expected)
    assert db.things.update_many(pushed, {"$set": {"hit": probe}}).matched_count == len(expected)
    assert ids(db.things.find({"hit": probe})) == expected
    assert db.things.delete_many(pushed).deleted_count == len(expected)
    assert db.things.count_documents({}) == len(VALUES) + 1 - len(expected)


def test_every_plain_string_key_is_pushed_down_and_the_rest_applied(varied):
    db = varied
    # `$eq` on `k` is not a plain value: `n` is pushed down, `k` applied by the handler
    assert ids(db.things.find({"k": {"$eq": "x"}, "n": "x"})) == ["d0", "d2"]
    assert ids(db.things.find({"k": "y", "n": ["y"]})) == ["d3"]  # n: an array, kept whole
    assert ids(db.things.find({"k": "x", "_id": {"$in": ["d2"]}})) == ["d2"]
    # both keys pushed down (patch 0006): the rows are those both narrow to
    assert ids(db.things.find({"k": "x", "n": "x"})) == ["d0", "d2"]
    assert ids(db.things.find({"k": "x", "n": "y"})) == []


@pytest.mark.parametrize("probe", PROBES)
def test_a_count_of_equalities_is_what_the_unpushed_one_counts(varied, probe):
    """`count` of string equalities is answered in SQL when no candidate holds an array
    in those fields (patch 0006), else by decoding: either way MongoDB's answer."""
    db = varied
    plain = db.things.find({"$nor": [{"k": {"$type": "array"}}]}, {"k": 1, "n": 1})
    db.plain.insert_many([*plain, {"_id": "other", "k": probe, "n": "other"}])
    db.plain.create_index([("k", 1), ("n", 1)], name="by_k_n")
    for collection in ("things", "plain"):
        for query in ({"k": probe}, {"k": probe, "n": probe}, {"n": probe, "k": probe}):
            reference = {field: {"$eq": value} for field, value in query.items()}
            expected = len(ids(db[collection].find(reference)))
            assert db.command("count", collection, query=query)["n"] == expected, query


def test_exists_false_is_pushed_down_and_a_null_field_still_exists(watched):
    db, _ = watched
    db.runs.insert_many(
        [
            {"_id": "run-1", "job_id": "j", "run": 1},
            {"_id": "run-1:0", "job_id": "j", "parent": "run-1", "run": None},
            {"_id": "run-2", "job_id": "j", "parent": None, "run": 2},
            {"_id": "run-3", "job_id": "k", "run": 1},
        ]
    )
    db.runs.create_index([("job_id", 1), ("run", 1)], name="by_job")
    absent = {"parent": {"$exists": False}}
    assert db.command("explain", {"find": "runs", "filter": absent})["filterPushdown"]
    assert ids(db.runs.find({"job_id": "j", **absent})) == ["run-1"]
    assert ids(db.runs.find({"parent": {"$exists": False}})) == ["run-1", "run-3"]
    assert ids(db.runs.find({"parent": {"$exists": True}, "job_id": "j"})) == ["run-1:0", "run-2"]
