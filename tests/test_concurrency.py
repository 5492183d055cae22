"""Requests that run at the same moment: validations of one new serial, and
admin updates of one license that all carry the same ETag."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from licensing import keys, runtime
from tests.admin_client import query, request
from tests.fixtures import FABRIKAM, post_validate, product, request_body

VALIDATIONS = 50
UPDATES = 20
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def thread_clock(monkeypatch):
    """Give each thread its own ``runtime.now``: ``thread_clock.moment = datetime``.

    runtime.now is one function for the whole process, so a plain clock fixture
    would give every parallel request the same instant.
    """
    local = threading.local()
    monkeypatch.setattr(runtime, "now", lambda: local.moment)
    return local


@pytest.fixture
def admin(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "LICENSING_AUTH_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    return request


def run_together(count: int, action) -> list:
    """Run ``action(index)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(index: int):
        barrier.wait()
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_validations_of_new_serial(store, thread_clock):
    serial = "PARALLEL-0001"
    body = request_body(serial, "contoso.com", product(FABRIKAM, "RentalManagement"))
    # Thread i runs at START plus a shuffled number of seconds, so the earliest
    # and the latest instant are not those of the first and last thread to start.
    offsets = [(index * 17) % VALIDATIONS for index in range(VALIDATIONS)]
    assert sorted(offsets) == list(range(VALIDATIONS))

    def validate(index: int) -> int:
        thread_clock.moment = START + timedelta(seconds=offsets[index])
        return post_validate(body).status_code

    statuses = run_together(VALIDATIONS, validate)

    assert statuses == [200] * VALIDATIONS
    table = store.table("Environments")
    rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": keys.encode(serial)}))
    assert len(rows) == 1
    assert rows[0]["RowKey"] == "contoso.com"
    assert rows[0]["customer_id"] == ""
    recorded = store.get_environment(serial, "contoso.com")
    assert recorded.first_seen == START
    assert recorded.last_seen == START + timedelta(seconds=VALIDATIONS - 1)
    assert [item.product_name for item in recorded.reported] == ["RentalManagement"]


def test_parallel_updates_with_one_etag(admin, demo):
    customer_id = admin("GET", "v1/customers" + query(customerNumber="C-1001")).body["items"][0][
        "id"
    ]
    path = f"v1/customers/{customer_id}/products/{FABRIKAM}/RentalManagement"
    current = admin("GET", path)
    assert current.status == 200
    etag = current.etag
    fields = {k: v for k, v in current.body.items() if k not in ("etag", "active", "createdBy")}

    def update(index: int):
        body = {**fields, "notes": f"Renewal call {index}"}
        return admin("PUT", path, body, {"If-Match": etag})

    responses = run_together(UPDATES, update)

    statuses = Counter(response.status for response in responses)
    assert statuses == {200: 1, 412: UPDATES - 1}
    winner = next(response for response in responses if response.status == 200)
    stored = admin("GET", path)
    assert stored.body["notes"] == winner.body["notes"]
    assert stored.etag == winner.etag

    entity_id = f"{customer_id}/{FABRIKAM}/RentalManagement"
    audit = admin("GET", "v1/audit" + query(entityId=entity_id, top=1000))
    assert audit.status == 200
    updates = [entry for entry in audit.body["items"] if entry["action"] == "update"]
    assert len(updates) == 1
    assert updates[0]["after"]["notes"] == winner.body["notes"]
    assert updates[0]["before"]["notes"] == current.body.get("notes", "")
