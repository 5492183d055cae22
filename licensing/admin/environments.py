"""Unregistered environments (assign to a customer, dismiss) and installed products.

An environment whose serial no admin registered is stored on its first
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


def _customer_exists(service: AdminService, customer_id: str) -> None:
    if rows.get(service.store.table("Customers"), customer_id, CUSTOMER_ROW) is None:
        raise NotFound(f"Customer {customer_id} was not found.", "customerId")


def assign(
    service: AdminService, environment_id: str, customer_id: str, etag: str, author: audit.Author
) -> Item:
    """Register an unregistered environment to a customer, keeping what it reported."""
    row = _unregistered_row(service, environment_id)
    _customer_exists(service, customer_id)

    before = ENVIRONMENTS.render(ENVIRONMENTS.load(row))
    entity = {**row, "customer_id": customer_id, "active": True}
    after = ENVIRONMENTS.render(ENVIRONMENTS.load(entity))
    table = service.store.table("Environments")
    audit_table = service.store.table("Audit")
    at = service.clock()
    with audit.change(
        audit_table, author, "assign", "environment", environment_id, before, after, at
    ):
        new_etag = rows.replace(table, entity, etag, "The environment")
        # Checked again after the write: a customer deleted meanwhile sees this
        # environment and stays, or this assignment sees the customer gone and undoes.
        try:
            _customer_exists(service, customer_id)
        except NotFound:
            rows.restore(table, row)
            raise

    return service.show(ENVIRONMENTS, ENVIRONMENTS.load(entity), new_etag)


def dismiss(service: AdminService, environment_id: str, etag: str, author: audit.Author) -> None:
    row = _unregistered_row(service, environment_id)
    before = ENVIRONMENTS.render(ENVIRONMENTS.load(row))
    table = service.store.table("Environments")
    audit_table = service.store.table("Audit")
    at = service.clock()
    with audit.change(
        audit_table, author, "dismiss", "environment", environment_id, before, None, at
    ):
        rows.delete(table, row["PartitionKey"], row["RowKey"], etag, "The environment")


def installed_products(service: AdminService, environment_id: str) -> list[dict]:
    """Return what the environment last reported for each product, newest first."""
    row = rows.get(
        service.store.table("Environments"), *ENVIRONMENTS.key({"environmentId": environment_id})
    )
    if row is None:
        raise NotFound(f"Environment {environment_id} was not found.")

    return [view(item) for item in ENVIRONMENTS.load(row).reported]
