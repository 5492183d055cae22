"""Unregistered environments (assign to a customer, dismiss) and installed products.

An environment whose serial nobody registered is stored on its first
validation without a customer. Assigning it sets the customer, which makes
its next validation registered; dismissing it deletes the row, and it comes
back if the environment asks again.
"""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..storage import CUSTOMER_ROW
from . import audit, rows
from .resources import ENVIRONMENTS
from .service import AdminService, Item
from .views import view


def _unregistered_row(service: AdminService, environment_id: str) -> dict:
    row = rows.get(
        service.store.table("Environments"), *ENVIRONMENTS.key({"environmentId": environment_id})
    )
    if row is None:
        raise NotFound(f"Environment {environment_id} was not found.")
    if row.get("customer_id"):
        raise Conflict(
            "The environment is already registered to a customer.",
            code="ENVIRONMENT_REGISTERED",
        )

    return row


def assign(
    service: AdminService, environment_id: str, customer_id: str, etag: str, author: audit.Author
) -> Item:
    """Register an unregistered environment to a customer, keeping what it reported."""
    row = _unregistered_row(service, environment_id)
    if rows.get(service.store.table("Customers"), customer_id, CUSTOMER_ROW) is None:
        raise NotFound(f"Customer {customer_id} was not found.", "customerId")

    before = ENVIRONMENTS.render(ENVIRONMENTS.load(row))
    entity = {**row, "customer_id": customer_id, "active": True}
    table = service.store.table("Environments")
    new_etag = rows.replace(table, entity, etag, "The environment")

    item = service.show(ENVIRONMENTS, ENVIRONMENTS.load(entity), new_etag)
    after = {key: value for key, value in item.body.items() if key != "etag"}
    audit.record(
        service.store.table("Audit"),
        author,
        "assign",
        "environment",
        environment_id,
        before,
        after,
        service.clock(),
    )
    return item


def dismiss(service: AdminService, environment_id: str, etag: str, author: audit.Author) -> None:
    row = _unregistered_row(service, environment_id)
    before = ENVIRONMENTS.render(ENVIRONMENTS.load(row))
    rows.delete(
        service.store.table("Environments"),
        row["PartitionKey"],
        row["RowKey"],
        etag,
        "The environment",
    )
    audit.record(
        service.store.table("Audit"),
        author,
        "dismiss",
        "environment",
        environment_id,
        before,
        None,
        service.clock(),
    )


def installed_products(service: AdminService, environment_id: str) -> list[dict]:
    """Return what the environment last reported for each product, newest first."""
    row = rows.get(
        service.store.table("Environments"), *ENVIRONMENTS.key({"environmentId": environment_id})
    )
    if row is None:
        raise NotFound(f"Environment {environment_id} was not found.")

    return [view(item) for item in ENVIRONMENTS.load(row).reported]
