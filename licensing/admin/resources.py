"""The records the admin API manages, and the rules that tie them together.

Each Resource says where its rows live, how a URL names one, how a request
body becomes a record (through licensing/rules.py), and what must hold before
it is created or deleted. licensing/admin/service.py runs the same create,
read, update, delete and list steps for all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .. import keys, rules
from ..decisions import has_passed
from ..entities import environment_from_entity, from_entity, to_entity
from ..errors import Conflict, InvalidInput, NotFound
from ..models import Customer, Environment, License, Product, Publisher
from ..storage import CUSTOMER_ROW, LICENSE_PREFIX, Store, customer_entity, license_entity
from . import rows
from .views import environment_id, parse_environment_id, view


def _none(store: Store, record: Any) -> None:
    return None


@dataclass(frozen=True)
class Resource:
    kind: str
    table: str
    key: Callable[[dict], tuple[str, str]]
    load: Callable[[dict], Any]
    save: Callable[[Any], dict]
    parse: Callable[[dict, dict], Any]
    listing: Callable[[dict, dict], tuple[str, dict]]
    render: Callable[[Any], dict] = view
    check_create: Callable[[Store, Any], None] = _none
    check_delete: Callable[[Store, Any], None] = _none
    belongs: Callable[[Any, dict], bool] = lambda record, path: True
    # Fields computed from the record and today's date in the service's time zone.
    derive: Callable[[Any, date], dict] = lambda record, today: {}
    # The id of a record in the audit log.
    identify: Callable[[Any], str] = lambda record: record.id
    # Row properties that the service maintains and an update keeps.
    preserve: tuple[str, ...] = field(default=())


def fixed(body: dict, **values: str) -> dict:
    """Merge the URL's key fields into a body, refusing a body that changes them."""
    merged = dict(body)
    for name, value in values.items():
        given = body.get(name)
        if given is not None and str(given).lower() != value.lower():
            raise InvalidInput(f"{name} cannot be changed; it is part of the URL.", name)
        # The body's spelling wins over the URL's when they differ only in case.
        if not isinstance(given, str):
            merged[name] = value

    return merged


def _exists(store: Store, table: str, query: str, **parameters) -> dict | None:
    return rows.exists(store.table(table), query, parameters)


# Publishers


def _publisher_delete(store: Store, publisher: Publisher) -> None:
    query = "PartitionKey eq @pk and publisher_id eq @publisher"
    if _exists(store, "Catalog", query, pk="product", publisher=publisher.id):
        raise Conflict(
            f"Publisher {publisher.name} has products: delete them first.",
            code="PUBLISHER_HAS_PRODUCTS",
        )


PUBLISHERS = Resource(
    kind="publisher",
    table="Catalog",
    key=lambda path: ("publisher", path["publisherId"].lower()),
    load=lambda row: from_entity(Publisher, row, id=row["RowKey"]),
    save=lambda p: to_entity(p, "publisher", p.id),
    parse=lambda body, path: rules.publisher(
        fixed(body, id=path["publisherId"]) if path else body, "body"
    ),
    listing=lambda path, query: ("PartitionKey eq @pk", {"pk": "publisher"}),
    check_delete=_publisher_delete,
)


# Products


def _product_create(store: Store, product: Product) -> None:
    if rows.get(store.table("Catalog"), "publisher", product.publisher_id) is None:
        raise InvalidInput(
            f"Publisher {product.publisher_id} was not found: create it first.",
            "publisherId",
            "UNKNOWN_REFERENCE",
        )


def _product_delete(store: Store, product: Product) -> None:
    row = LICENSE_PREFIX + keys.product_key(product.publisher_id, product.name)
    licensed = _exists(store, "Customers", "RowKey eq @row", row=row)
    if licensed:
        raise Conflict(
            f"Product {product.name} is licensed by customer {licensed['PartitionKey']}: "
            "delete that customer product first.",
            code="PRODUCT_LICENSED",
        )


def _product_listing(path: dict, query: dict) -> tuple[str, dict]:
    publisher = query.get("publisherId")
    if publisher:
        return (
            "PartitionKey eq @pk and publisher_id eq @publisher",
            {"pk": "product", "publisher": publisher.lower()},
        )

    return "PartitionKey eq @pk", {"pk": "product"}


PRODUCTS = Resource(
    kind="product",
    table="Catalog",
    key=lambda path: ("product", keys.product_key(path["publisherId"], path["productName"])),
    load=lambda row: from_entity(Product, row),
    save=lambda p: to_entity(p, "product", keys.product_key(p.publisher_id, p.name)),
    parse=lambda body, path: rules.product(
        fixed(body, publisherId=path["publisherId"], name=path["productName"]) if path else body,
        "body",
    ),
    listing=_product_listing,
    check_create=_product_create,
    check_delete=_product_delete,
    identify=lambda p: f"{p.publisher_id}/{p.name}",
)


# Customers


def _customer_number_free(store: Store, customer: Customer) -> None:
    if not customer.customer_number:
        return

    query = "RowKey eq @row and customer_number eq @number and PartitionKey ne @self"
    other = _exists(
        store,
        "Customers",
        query,
        row=CUSTOMER_ROW,
        number=customer.customer_number,
        self=customer.id,
    )
    if other:
        raise Conflict(
            f"Customer number {customer.customer_number} belongs to customer "
            f"{other.get('name', '')}.",
            "customerNumber",
            "DUPLICATE_CUSTOMER_NUMBER",
        )


def _customer_delete(store: Store, customer: Customer) -> None:
    query = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"
    if _exists(store, "Customers", query, pk=customer.id, **_license_range()):
        raise Conflict(
            f"Customer {customer.name} has products: delete them first.",
            code="CUSTOMER_HAS_PRODUCTS",
        )

    _no_environments(store, customer.id, f"Customer {customer.name}")


def _no_environments(store: Store, customer_id: str, subject: str) -> None:
    if _exists(store, "Environments", "customer_id eq @customer", customer=customer_id):
        raise Conflict(
            f"{subject} has environments: delete them first.",
            code="CUSTOMER_HAS_ENVIRONMENTS",
        )


def _license_range() -> dict:
    # Every license row key starts with "license|"; "}" is the next character after "|".
    return {"low": LICENSE_PREFIX, "high": LICENSE_PREFIX[:-1] + "}"}


def _customer_listing(path: dict, query: dict) -> tuple[str, dict]:
    clauses, parameters = ["RowKey eq @row"], {"row": CUSTOMER_ROW}
    if query.get("name"):
        prefix = query["name"].strip().lower()
        clauses.append("name_lower ge @low and name_lower lt @high")
        parameters.update(low=prefix, high=prefix + "\uffff")
    if query.get("customerNumber"):
        clauses.append("customer_number eq @number")
        parameters["number"] = query["customerNumber"].strip()

    return " and ".join(clauses), parameters


CUSTOMERS = Resource(
    kind="customer",
    table="Customers",
    key=lambda path: (path["customerId"], CUSTOMER_ROW),
    load=lambda row: from_entity(Customer, row, id=row["PartitionKey"]),
    save=customer_entity,
    parse=lambda body, path: rules.customer(
        body, "body", path.get("customerId") or str(uuid.uuid4())
    ),
    listing=_customer_listing,
    check_create=_customer_number_free,
    check_delete=_customer_delete,
)


# Customer products (licenses)


def _license_create(store: Store, license: License) -> None:
    if rows.get(store.table("Customers"), license.customer_id, CUSTOMER_ROW) is None:
        raise NotFound(f"Customer {license.customer_id} was not found.")

    row = keys.product_key(license.publisher_id, license.product_name)
    if rows.get(store.table("Catalog"), "product", row) is None:
        raise InvalidInput(
            f"Product {license.product_name} of publisher {license.publisher_id} was not "
            "found: create it first.",
            "productName",
            "UNKNOWN_REFERENCE",
        )


def _license_delete(store: Store, license: License) -> None:
    _no_environments(store, license.customer_id, "The customer")


def _license_parse(body: dict, path: dict) -> License:
    if "publisherId" in path:
        body = fixed(body, publisherId=path["publisherId"], productName=path["productName"])

    return rules.license(body, "body", path["customerId"])


def _license_listing(path: dict, query: dict) -> tuple[str, dict]:
    parameters = {"pk": path["customerId"], **_license_range()}
    return "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high", parameters


LICENSES = Resource(
    kind="customerProduct",
    table="Customers",
    key=lambda path: (
        path["customerId"],
        LICENSE_PREFIX + keys.product_key(path["publisherId"], path["productName"]),
    ),
    load=lambda row: from_entity(License, row, customer_id=row["PartitionKey"]),
    save=license_entity,
    parse=_license_parse,
    listing=_license_listing,
    derive=lambda lic, today: {"active": not has_passed(lic.expiration_date, today)},
    check_create=_license_create,
    check_delete=_license_delete,
    identify=lambda lic: f"{lic.customer_id}/{lic.publisher_id}/{lic.product_name}",
    preserve=("created_by",),
)


# A customer's environments


def _environment_key(path: dict) -> tuple[str, str]:
    serial, tenant = parse_environment_id(path["environmentId"])
    return keys.encode(serial), tenant


def _environment_save(environment: Environment) -> dict:
    entity = to_entity(
        environment,
        keys.encode(environment.serial_number),
        environment.tenant,
        customer_id=environment.customer_id or "",
    )
    del entity["serial_number"], entity["tenant"]
    return entity


def _environment_parse(body: dict, path: dict) -> Environment:
    if "environmentId" in path:
        serial, tenant = parse_environment_id(path["environmentId"])
        body = fixed(body, serialNumber=serial, tenant=tenant)

    return rules.environment(body, "body", path["customerId"])


def _environment_create(store: Store, environment: Environment) -> None:
    if rows.get(store.table("Customers"), environment.customer_id, CUSTOMER_ROW) is None:
        raise NotFound(f"Customer {environment.customer_id} was not found.")

    known = store.get_environment(environment.serial_number, environment.tenant)
    if known is not None and not known.registered:
        raise Conflict(
            f"Serial {environment.serial_number} of {environment.tenant} is waiting as an "
            "unregistered environment: assign it to the customer instead.",
            code="ENVIRONMENT_UNREGISTERED",
        )


def _environment_listing(path: dict, query: dict) -> tuple[str, dict]:
    clauses, parameters = ["customer_id eq @customer"], {"customer": path.get("customerId", "")}
    if query.get("serialNumber"):
        clauses.append("PartitionKey eq @serial")
        parameters["serial"] = keys.encode(query["serialNumber"].strip())

    return " and ".join(clauses), parameters


def render_environment(environment: Environment) -> dict:
    return view(
        environment,
        id=environment_id(environment.serial_number, environment.tenant),
        customerId=environment.customer_id,
        registered=environment.registered,
    )


ENVIRONMENTS = Resource(
    kind="environment",
    table="Environments",
    key=_environment_key,
    load=lambda row: environment_from_entity(row, keys.decode),
    save=_environment_save,
    parse=_environment_parse,
    listing=_environment_listing,
    render=render_environment,
    check_create=_environment_create,
    belongs=lambda env, path: (env.customer_id or "") == path.get("customerId", ""),
    identify=lambda e: environment_id(e.serial_number, e.tenant),
    preserve=("first_seen", "last_seen", "reported_blob", "host_url", "is_production"),
)
