"""Our FerretDB build answers the store's `_id`-keyed filters from the `_id` index.

FerretDB 1.24's SQLite backend pushes a filter down to SQL only when it is exactly
`{_id: <string|ObjectID>}`; everything else reads and decodes the whole collection, so
a conditional update (`{_id: x, status_rank: {$lt: n}}`) costs O(collection). And even
the SQL it pushes down scans the table, its `_id` expression being spelled otherwise
than the `_id` index's. tools/ferretdb/patches fixes both. These tests run against a
FerretDB process of our build (whatever MongoDB the rest of the session uses), since
`make dev` runs on it:

* every `_id`-keyed filter MongoStore sends (captured with pymongo's command monitoring
  while the real store methods run, on the submit, record, re-run, cancel and reconcile
  paths) is pushed down and searched in the `_id` index (`explain`: filterPushdown, and
  SQLite's plan);
* the filters that are not `_id`-keyed are exactly the documented read paths
  (docs/performance.md), so a new scanning shape fails here;
* the server still applies the rest of the filter: an `_id` with a condition that does
  not hold matches nothing, for every command that takes a filter.
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

from overlord import schema
from overlord.adapters.mongo_store import MongoStore
from overlord.observation import Attempt, RunObservation
from overlord.ports import JobFilter, LogFilter, TerminalCopy
from overlord.request import validate_job_request
from overlord_local.devstack.ferretdb import FerretDB

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)

# Store methods whose filters are not keyed by `_id`, and why that is acceptable:
# reads of the API (list and the runs/log lines of one job) and the reconcile sweep
# (once a tick). Nothing on the submit or record path. docs/performance.md.
# `children`: an array run's children, for GET /jobs/{id}'s counts and reconcile's check;
# `complete_array` reads them too (reconcile, for an array whose job did not end).
SCANNING_READS = {
    "list_jobs",
    "list_runs",
    "list_logs",
    "stale_jobs",
    "unsettled_runs",
    "children",
    "complete_array",
}

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
    """FerretDB pushes the filter down to SQL, and SQLite answers it from the `_id` index.

    FerretDB explains find/count/aggregate only; the backend decides the pushdown of an
    update's or findAndModify's filter with the same code (Query and Explain), and its
    UPDATE/DELETE statements use the same `_id` expression as the SELECT explained here.
    """
    answer = db.command("explain", {"find": collection, "filter": query})
    plan = " ".join(answer["queryPlanner"]["Plan"])
    searches_the_index = "SEARCH" in plan and "USING INDEX" in plan
    return bool(answer["filterPushdown"]) and searches_the_index


def keyed_by_id(query: dict[str, Any]) -> bool:
    return isinstance(query.get("_id"), str | ObjectId)


def job_document(message: str) -> schema.JobDocument:
    request = validate_job_request({"task": "echo", "parameters": {"message": message}})
    return schema.new_job(request, NOW)


def submitted_run(job_id: str, batch_job_id: str, run: int = 1) -> schema.RunDocument:
    doc = schema.new_run(batch_job_id=batch_job_id, job_id=job_id, run=run, at=NOW)
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
    call("record_submitted_run", submitted_run(job_id, "b-2", run=2), NOW)
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
    }
    scanned = [(label, c, q) for label, c, q in keyed if not explain_pushdown(db, c, q)]
    assert scanned == []


def test_only_the_documented_reads_use_filters_not_keyed_by_id(watched):
    db, filters = watched
    exercise_the_store(MongoStore(db), filters)
    unkeyed = {label for label, _, q in filters.seen if not keyed_by_id(q)}
    assert unkeyed == SCANNING_READS
    # and FerretDB indeed answers those by reading the collection (a method may also send
    # `_id`-keyed filters: complete_array reads its run first)
    assert not any(
        explain_pushdown(db, c, q)
        for label, c, q in filters.seen
        if label in SCANNING_READS and not keyed_by_id(q)
    )


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
