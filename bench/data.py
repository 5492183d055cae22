"""The benchmark's own records, imported next to the demo data, and its request bodies.

Each of the customers ``Bench customer 1``, ``10`` and ``100`` licenses that many
products of the publisher Bench Software and has one environment, whose serial
(``BENCH-0001`` and so on) the cost breakdown validates with all of them. Customer
``Bench customer 10`` also has the registered environments of the load benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BENCH_PUBLISHER = "5d0c6a1e-2b7f-4c3a-9e81-7f4b2a6d9c30"
BENCH_TENANT = "bench.example"
PRODUCT_COUNT = 100
SIZES = (1, 10, 100)

DEMO_FILE = Path(__file__).resolve().parent.parent / "demo" / "demo-data.json"

# The load benchmark's mix of simulated environments: every distinct serial of the
# demo data, this many registered serials of Bench customer 10, and new serials
# for the rest, which the service records as unregistered environments.
REGISTERED_LOAD_SERIALS = 20


@dataclass(frozen=True)
class SimulatedEnvironment:
    """A FinOps environment of the load benchmark and the products it reports."""

    serial_number: str
    tenant: str
    products: tuple[dict, ...]
    kind: str


def product_name(index: int) -> str:
    return f"BenchProduct{index:03d}"


def sized_serial(size: int) -> str:
    """Return the serial of the environment whose customer licenses ``size`` products."""
    return f"BENCH-{size:04d}"


def bench_products(size: int) -> list[dict]:
    """Return the first ``size`` Bench Software products as a request reports them."""
    return [reported_product(BENCH_PUBLISHER, product_name(i)) for i in range(1, size + 1)]


def reported_product(publisher_id: str, name: str) -> dict:
    return {
        "publisherId": publisher_id,
        "productName": name,
        "modelName": "ISV" + name,
        "modelVersion": "10.0.43.202506241",
        "isEnabled": True,
        "isInstalled": True,
    }


def request_body(serial_number: str, tenant: str, products: list[dict], nonce: str) -> bytes:
    """Encode a validation request as an environment sends it."""
    body = {
        "serialNumber": serial_number,
        "tenant": tenant,
        "hostUrl": f"https://{tenant.split('.')[0]}-prod.operations.dynamics.com",
        "isProductionEnvironment": True,
        "nonce": nonce,
        "products": products,
    }
    return json.dumps(body).encode("utf-8")


def document() -> dict:
    """Return the benchmark's records in the import file format."""
    products = [
        {
            "publisherId": BENCH_PUBLISHER,
            "name": product_name(i),
            "description": f"Benchmark product {i}",
            "region": "Global",
            "termsUrl": f"https://bench.example/products/{i}/terms",
            "userGuideUrl": f"https://bench.example/products/{i}/guide",
            "supportEmail": "support@bench.example",
            "active": True,
        }
        for i in range(1, PRODUCT_COUNT + 1)
    ]
    customers = [_customer(size) for size in SIZES]
    customers[SIZES.index(10)]["environments"] += [
        {"tenant": BENCH_TENANT, "serialNumber": _load_serial(i), "active": True}
        for i in range(1, REGISTERED_LOAD_SERIALS + 1)
    ]
    return {
        "publishers": [{"id": BENCH_PUBLISHER, "name": "Bench Software"}],
        "products": products,
        "customers": customers,
    }


def simulated_environments(count: int) -> list[SimulatedEnvironment]:
    """Return ``count`` environments with distinct serials: demo, registered, then new ones."""
    environments = _demo_environments() + [
        SimulatedEnvironment(_load_serial(i), BENCH_TENANT, tuple(bench_products(10)), "registered")
        for i in range(1, REGISTERED_LOAD_SERIALS + 1)
    ]
    if count < len(environments):
        raise ValueError(f"at least {len(environments)} environments are needed, not {count}")

    demo_products = tuple(_demo_products())
    for i in range(1, count - len(environments) + 1):
        environments.append(
            SimulatedEnvironment(f"LOAD-N{i:03d}", f"new{i}.example", demo_products, "new")
        )
    return environments


def _customer(size: int) -> dict:
    licenses = [
        {
            "publisherId": BENCH_PUBLISHER,
            "productName": product_name(i),
            "licenseType": "Annual",
            "enabled": True,
            "siteLicense": False,
            "numberOfUsers": 25,
            "subscriptionStartDate": "2025-01-01",
            "expirationDate": "2030-12-31",
            "featureDisableDate": "2031-03-31",
        }
        for i in range(1, size + 1)
    ]
    return {
        "name": f"Bench customer {size}",
        "customerNumber": f"B-{size}",
        "region": "Global",
        "environments": [{"tenant": BENCH_TENANT, "serialNumber": sized_serial(size)}],
        "products": licenses,
    }


def _load_serial(index: int) -> str:
    return f"LOAD-R{index:03d}"


def _demo_environments() -> list[SimulatedEnvironment]:
    """Return the first environment of each distinct demo serial, with its customer's products."""
    demo = json.loads(DEMO_FILE.read_text())
    environments: dict[str, SimulatedEnvironment] = {}
    for customer in demo["customers"]:
        products = tuple(
            reported_product(item["publisherId"], item["productName"])
            for item in customer.get("products", [])
        )
        for item in customer.get("environments", []):
            serial = item["serialNumber"]
            if serial not in environments:
                environments[serial] = SimulatedEnvironment(
                    serial, item["tenant"], products, "demo"
                )
    return list(environments.values())


def _demo_products() -> list[dict]:
    """Return the first three demo products, as a new environment would report them."""
    demo = json.loads(DEMO_FILE.read_text())
    return [reported_product(p["publisherId"], p["name"]) for p in demo["products"][:3]]
