"""Import of publishers, products and customers from a JSON file.

The whole file is checked before anything is written. Records are matched by
their natural keys (publisher id; publisher and product name; customer number,
else customer name; tenant and serial; customer and product) and written only
when they differ from what is stored, so a second run changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from . import keys, rules
from .admin import audit
from .admin.resources import CUSTOMERS, ENVIRONMENTS, LICENSES, PRODUCTS, PUBLISHERS
from .errors import InvalidInput
from .models import Customer, Environment, License, Product, Publisher
from .storage import Store


@dataclass
class CustomerImport:
    customer: Customer
    environments: list[Environment] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)


@dataclass(frozen=True)
class ImportPlan:
    publishers: list[Publisher]
    products: list[Product]
    customers: list[CustomerImport]


def parse(data: Any) -> ImportPlan:
    """Check a decoded import file; raises InvalidInput naming the bad field."""
    if not isinstance(data, dict):
        raise InvalidInput("The import file must hold a JSON object.", code="INVALID_BODY")

    publishers = [
        rules.publisher(item, f"publishers[{i}]")
        for i, item in enumerate(_list(data, "publishers"))
    ]
    products = [
        rules.product(item, f"products[{i}]") for i, item in enumerate(_list(data, "products"))
    ]
    customers = [
        _customer(item, f"customers[{i}]") for i, item in enumerate(_list(data, "customers"))
    ]

    _unique([p.id for p in publishers], "publishers", "publisher id")
    _unique([keys.product_key(p.publisher_id, p.name) for p in products], "products", "product")
    _unique([_customer_key(c.customer) for c in customers], "customers", "customer")
    _unique(
        [f"{e.tenant} {e.serial_number}" for c in customers for e in c.environments],
        "customers",
        "environment (tenant and serial)",
    )
    for index, item in enumerate(customers):
        _unique(
            [keys.product_key(lic.publisher_id, lic.product_name) for lic in item.licenses],
            f"customers[{index}].products",
            "product",
        )
    return ImportPlan(publishers, products, customers)


def _list(data: dict, name: str) -> list:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be an array.", name, "INVALID_TYPE")

    return value


def _customer(data: Any, path: str) -> CustomerImport:
    parsed = CustomerImport(rules.customer(data, path))
    for i, item in enumerate(_list(data, "environments")):
        parsed.environments.append(rules.environment(item, f"{path}.environments[{i}]", ""))
    for i, item in enumerate(_list(data, "products")):
        parsed.licenses.append(rules.license(item, f"{path}.products[{i}]", ""))

    return parsed


def _customer_key(customer: Customer) -> str:
    if customer.customer_number:
        return "number:" + customer.customer_number.lower()

    return "name:" + customer.name.lower()


def _unique(values: list[str], target: str, what: str) -> None:
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        raise InvalidInput(
            f"{target} lists {what} {repeated[0]} more than once.", target, "DUPLICATE"
        )


# The admin resource of each record type: its audit name and id.
_RESOURCES = {
    Publisher: PUBLISHERS,
    Product: PRODUCTS,
    Customer: CUSTOMERS,
    License: LICENSES,
    Environment: ENVIRONMENTS,
}

COMMAND_AUTHOR = audit.Author(object_id="import-command", name="import command")


class Importer:
    """Writes an ImportPlan, counting what it created, updated and left alone.

    Every record it writes gets an ``import`` entry in the audit log.
    """

    def __init__(self, store: Store, author: audit.Author = COMMAND_AUTHOR) -> None:
        self.store = store
        self.author = author
        self.counts: Counter[str] = Counter()

    def run(self, plan: ImportPlan) -> Counter[str]:
        catalog = self.store.load_catalog()
        known_products = set(catalog.products) | {
            (p.publisher_id, p.name.lower()) for p in plan.products
        }
        _check_references(
            plan, set(catalog.publishers) | {p.id for p in plan.publishers}, known_products
        )

        for publisher in plan.publishers:
            self._write(catalog.publishers.get(publisher.id), publisher, self.store.put_publisher)
        for product in plan.products:
            stored = catalog.product(product.publisher_id, product.name)
            self._write(stored, product, self.store.put_product)

        unsearchable: set[str] = set()
        existing = {_customer_key(c): c for c in self.store.list_customers(unsearchable)}
        for item in plan.customers:
            stored = existing.get(_customer_key(item.customer))
            self._import_customer(item, stored, stored is not None and stored.id in unsearchable)

        return self.counts

    def _import_customer(
        self, item: CustomerImport, stored: Customer | None, rewrite: bool = False
    ) -> None:
        customer_id = stored.id if stored else str(uuid.uuid4())
        customer = replace(item.customer, id=customer_id)
        if rewrite:
            # An older row without the name search column: written again as it is.
            self.store.put_customer(customer)
        self._write(stored, customer, self.store.put_customer)

        _, licenses = self.store.get_customer(customer_id)
        for license in item.licenses:
            license = replace(license, customer_id=customer_id)
            stored_license = licenses.get(
                keys.product_key(license.publisher_id, license.product_name)
            )
            self._write(stored_license, license, self.store.put_license)

        for environment in item.environments:
            environment = replace(environment, customer_id=customer_id)
            stored_env = self.store.get_environment(environment.serial_number, environment.tenant)
            current = None
            if stored_env is not None:
                current = replace(
                    environment, customer_id=stored_env.customer_id, active=stored_env.active
                )
            self._write(current, environment, self.store.put_environment)

    def _write(self, stored, record, put) -> None:
        if stored == record:
            self.counts["unchanged"] += 1
            return

        put(record)
        self.counts["created" if stored is None else "updated"] += 1
        resource = _RESOURCES[type(record)]
        audit.record(
            self.store.table("Audit"),
            self.author,
            "import",
            resource.kind,
            resource.identify(record),
            resource.render(stored) if stored is not None else None,
            resource.render(record),
            datetime.now(UTC),
        )


def _check_references(
    plan: ImportPlan, publishers: set[str], products: set[tuple[str, str]]
) -> None:
    for i, product in enumerate(plan.products):
        if product.publisher_id not in publishers:
            raise InvalidInput(
                f"products[{i}] names unknown publisher {product.publisher_id}: add it to publishers.",
                f"products[{i}].publisherId",
                "UNKNOWN_REFERENCE",
            )

    for i, item in enumerate(plan.customers):
        for j, license in enumerate(item.licenses):
            if (license.publisher_id, license.product_name.lower()) not in products:
                raise InvalidInput(
                    f"customers[{i}].products[{j}] names unknown product "
                    f"{license.product_name} of publisher {license.publisher_id}: add it to products.",
                    f"customers[{i}].products[{j}].productName",
                    "UNKNOWN_REFERENCE",
                )
