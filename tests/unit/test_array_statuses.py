"""GET /jobs/{id}?children=true: each item's latest status, by index (the console's grid)."""

from __future__ import annotations

from overlord.ports.batch_events import observe
from overlord.services import queries, record
from tests.unit.fakes import T0
from tests.unit.test_arrays import child_detail, post_array


def test_children_gives_each_items_latest_status_by_index(store, batch, objects, streams):
    sub = post_array(store, batch, objects)
    for index, status in ((0, "SUCCEEDED"), (2, "FAILED")):
        event = observe(child_detail(sub.batch_job_id, sub.job_id, index, status), T0)
        record.record_observation(store, streams, objects, event)
    view = queries.job_with_latest_run(store, sub.job_id, children=True)
    assert view["array"]["statuses"] == ["SUCCEEDED", "SUBMITTED", "FAILED"]
    assert "statuses" not in queries.job_with_latest_run(store, sub.job_id)["array"]
