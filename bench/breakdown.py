"""Cost breakdown: the validation handler's time against its floor, in one process.

For requests of 1, 10 and 100 products (the environments BENCH-0001, BENCH-0010 and
BENCH-0100 of bench/data.py, whose customers license all of them), each iteration

1. calls the registered ``validate`` function with an azure.functions.HttpRequest,
   as the Functions worker does, and counts the HTTP requests it sends to storage;
2. times alone, with the same azure-data-tables client (the service's Store), each
   storage call that a registered validation makes: the environment's point read,
   the customer partition query, and the ETag-checked merge of the environment row
   with the fields the handler wrote; and one RS256 signature with the same key over
   the bytes that the handler signed.

The floor is the sum of the medians of those parts. It leaves out the catalog query,
which CatalogCache makes once per LICENSING_CATALOG_CACHE_SECONDS (default 60 s), so
an iteration that reloads the catalog shows 4 round trips instead of 3.

Run alone with ``.venv/bin/python -m bench.breakdown``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from . import data, environment, stats
from .traffic import HttpTraffic, counting

TARGET_RATIO = 1.3
TARGET_SIZE = 10
DEFAULT_ITERATIONS = 300
DEFAULT_WARMUP = 20

# The fields of the environment row that a validation merges, besides its keys.
RECORDED_FIELDS = ("host_url", "is_production", "first_seen", "last_seen", "reported_blob")


@dataclass(frozen=True)
class BreakdownResult:
    """Medians in seconds over ``iterations`` requests of ``products`` products."""

    products: int
    iterations: int
    handler: float
    environment_read: float
    customer_query: float
    environment_update: float
    signature: float
    round_trips: float
    max_round_trips: int
    new_connections: int

    @property
    def floor(self) -> float:
        return (
            self.environment_read + self.customer_query + self.environment_update + self.signature
        )

    @property
    def ratio(self) -> float:
        return self.handler / self.floor


def run(
    iterations: int = DEFAULT_ITERATIONS, warmup: int = DEFAULT_WARMUP
) -> list[BreakdownResult]:
    """Measure every size in data.SIZES; the service settings must point at a prepared run."""
    with counting() as traffic:
        return [measure(size, iterations, warmup, traffic) for size in data.SIZES]


def measure(size: int, iterations: int, warmup: int, traffic: HttpTraffic) -> BreakdownResult:
    probe = _Probe(size)
    for _ in range(warmup):
        probe.once(traffic)

    probe.reset()
    for _ in range(iterations):
        probe.once(traffic)
    return probe.result(iterations)


class _Probe:
    """Runs the handler and its floor for one request size, and keeps the timings."""

    def __init__(self, size: int) -> None:
        import azure.functions as func
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        from function_app import app
        from licensing import keys, runtime
        from licensing.registry import functions_of
        from licensing.settings import Settings
        from licensing.signing import load_private_key

        self._func = func
        self._validate = next(
            f.get_user_function() for f in functions_of(app) if f.get_function_name() == "validate"
        )
        self._size = size
        self._serial = data.sized_serial(size)
        self._products = data.bench_products(size)

        store = runtime.services().store
        self._environments = store.table("Environments")
        self._customers = store.table("Customers")
        self._keys = (keys.encode(self._serial), data.BENCH_TENANT)

        settings = Settings.from_env()
        self._key = load_private_key(Path(settings.signing_key_file).read_bytes())
        self._padding = padding.PKCS1v15()
        self._hash = hashes.SHA256()
        self.reset()

    def reset(self) -> None:
        self._timings: dict[str, list[float]] = {
            name: []
            for name in ("handler", "environment_read", "customer_query", "update", "signature")
        }
        self._round_trips: list[int] = []
        self._new_connections = 0

    def once(self, traffic: HttpTraffic) -> None:
        signing_input = self._handler(traffic)
        self._floor(signing_input)

    def result(self, iterations: int) -> BreakdownResult:
        medians = {name: stats.median(values) for name, values in self._timings.items()}
        return BreakdownResult(
            products=self._size,
            iterations=iterations,
            handler=medians["handler"],
            environment_read=medians["environment_read"],
            customer_query=medians["customer_query"],
            environment_update=medians["update"],
            signature=medians["signature"],
            round_trips=stats.median(self._round_trips),
            max_round_trips=max(self._round_trips),
            new_connections=self._new_connections,
        )

    def _handler(self, traffic: HttpTraffic) -> bytes:
        """Call validate once; return the bytes that its token's signature covers."""
        body = data.request_body(
            self._serial, data.BENCH_TENANT, self._products, secrets.token_urlsafe(16)
        )
        request = self._func.HttpRequest(
            "POST",
            "http://localhost/api/v1/validate",
            headers={"Content-Type": "application/json"},
            body=body,
        )

        before = traffic.counts()
        started = time.perf_counter()
        response = self._validate(request)
        self._timings["handler"].append(time.perf_counter() - started)
        sent = traffic.counts() - before

        if response.status_code != 200:
            raise RuntimeError(
                f"validate returned status {response.status_code}: {response.get_body()[:500]!r}"
            )
        self._round_trips.append(sent.requests)
        self._new_connections += sent.connections
        token = json.loads(response.get_body())["token"]
        return token.rsplit(".", 1)[0].encode("ascii")

    def _floor(self, signing_input: bytes) -> None:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        partition_key, row_key = self._keys
        started = time.perf_counter()
        entity = self._environments.get_entity(partition_key, row_key)
        self._lap("environment_read", started)

        started = time.perf_counter()
        list(
            self._customers.query_entities(
                "PartitionKey eq @pk", parameters={"pk": entity["customer_id"]}
            )
        )
        self._lap("customer_query", started)

        changes = {"PartitionKey": partition_key, "RowKey": row_key}
        changes.update((name, entity[name]) for name in RECORDED_FIELDS)
        started = time.perf_counter()
        self._environments.update_entity(
            changes,
            mode=UpdateMode.MERGE,
            etag=entity.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
        self._lap("update", started)

        started = time.perf_counter()
        self._key.sign(signing_input, self._padding, self._hash)
        self._lap("signature", started)

    def _lap(self, name: str, started: float) -> None:
        self._timings[name].append(time.perf_counter() - started)


def report(results: list[BreakdownResult]) -> str:
    """Render the results as a Markdown table followed by the two targets."""
    rows = [
        (
            result.products,
            stats.ms(result.handler),
            stats.ms(result.environment_read),
            stats.ms(result.customer_query),
            stats.ms(result.environment_update),
            stats.ms(result.signature),
            stats.ms(result.floor),
            f"{result.ratio:.2f}",
            f"{result.round_trips:g} (max {result.max_round_trips})",
            result.new_connections,
        )
        for result in results
    ]
    header = (
        "products",
        "handler ms",
        "env read ms",
        "customer query ms",
        "env update ms",
        "RS256 sign ms",
        "floor ms",
        "handler / floor",
        "round trips / request",
        "new connections",
    )
    trips = [result.round_trips for result in results]
    target = next(result for result in results if result.products == TARGET_SIZE)
    lines = [
        f"Medians of {results[0].iterations} requests per size.",
        "",
        stats.table(header, rows),
        "",
        f"- Round trips constant in the number of products: "
        f"{stats.verdict(len(set(trips)) == 1)} ({', '.join(f'{t:g}' for t in trips)})",
        f"- Handler at most {TARGET_RATIO} times the floor at {TARGET_SIZE} products: "
        f"{stats.verdict(target.ratio <= TARGET_RATIO)} ({target.ratio:.2f})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--iterations", type=int, default=DEFAULT_ITERATIONS, help="measured requests per size"
    )
    parser.add_argument(
        "--warmup", type=int, default=DEFAULT_WARMUP, help="unmeasured requests per size first"
    )
    args = parser.parse_args(argv)

    environment.raise_on_sigterm()
    with environment.prepared():
        print(report(run(args.iterations, args.warmup)))


if __name__ == "__main__":
    main()
