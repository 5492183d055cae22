"""Table Storage access for the catalog, customers and environments.

Tables (each name starts with ``LICENSING_TABLE_PREFIX``):

``Catalog``
    Publishers (PartitionKey ``publisher``, RowKey the publisher's tenant id)
    and products (PartitionKey ``product``, RowKey ``publisherId|name``, both
    lower case). The catalog is small and read whole, in one query, by the
    validation's catalog cache.
``Customers``
    One partition per customer (PartitionKey the customer id). RowKey
    ``customer`` holds the customer itself; ``license|publisherId|name`` its
    licenses. A validation reads a customer and all its licenses with one
    partition query, and the licenses created by disable license control in
    one transaction.
``Audit``
    Every change made through the admin API or the import command; see
    licensing/admin/audit.py.
``Environments``
    PartitionKey the percent-encoded serial number, RowKey the tenant domain
    in lower case: a validation reads its environment with one point read.
    Unregistered environments are rows without a customer id. The products an
    environment last reported live in the same row, so one merge records a
    validation.

A registered environment's validation therefore costs three round trips:
environment, customer partition, environment update. The catalog adds one
query per cache lifetime, and a license created by disable license control
one transaction.

Azure SDK errors are translated here: a storage service that cannot be
reached, times out or answers 5xx raises StorageUnavailable.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from . import keys
from .entities import (
    encode_reported,
    environment_from_entity,
    from_entity,
    merge_reported,
    to_entity,
)
from .errors import InvalidInput, StorageUnavailable
from .models import Catalog, Customer, Environment, License, Product, Publisher, ReportedProduct
from .settings import Settings, SettingsError

_LOGGER = logging.getLogger(__name__)

TABLES = ("Catalog", "Customers", "Environments", "Audit")

# Client behaviour: fail fast, so that the caller gets 503 within about
# ten seconds instead of hanging. One retry after 0.3 s; at most 2 s to
# connect and 4 s to wait for each response, so a storage endpoint that
# accepts connections and never answers costs two 4 s waits.
CLIENT_OPTIONS = {
    "retry_total": 1,
    "retry_backoff_factor": 0.3,
    "retry_backoff_max": 1,
    "connection_timeout": 2,
    "read_timeout": 4,
}

# Connections to the storage endpoint that the client keeps open for reuse.
# requests keeps 10, so with more requests at once each extra one opened a
# connection (a TCP and TLS handshake) and closed it after one call.
POOL_CONNECTIONS = 64

CUSTOMER_ROW = "customer"

# Writers of one environment row that collide retry this often before the
# reported products of one request are given up (last seen is still written).
RECORD_ATTEMPTS = 12
LICENSE_PREFIX = "license|"


def pooled_transport(**options):
    """Build the requests transport of the Table Storage client, with a pool of POOL_CONNECTIONS.

    The transport reads its timeouts from ``options``, the options of the client.
    """
    # Imported here, as azure-core does, so that importing this module stays fast.
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    # azure-core retries by itself, so urllib3 must not retry as well (azure-core
    # configures its own sessions the same way).
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=POOL_CONNECTIONS,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(session=session, **options)


def license_row(publisher_id: str, product_name: str) -> str:
    return LICENSE_PREFIX + keys.product_key(publisher_id, product_name)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn an unreachable or failing storage service into StorageUnavailable."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        _LOGGER.warning("Table storage unreachable: %s", type(exc).__name__)
        raise StorageUnavailable() from exc
    except HttpResponseError as exc:
        expected = (ResourceNotFoundError, ResourceExistsError, ResourceModifiedError)
        if isinstance(exc, expected) and not missing_table(exc):
            raise

        if exc.status_code == 400:
            # A value storage cannot hold (a key or property it rejects): retrying
            # cannot help, so the caller gets a 400, not a 503.
            _LOGGER.warning("Table storage rejected a request: %s", getattr(exc, "error_code", ""))
            raise InvalidInput("Storage rejected a value of this request as invalid.") from exc

        _LOGGER.warning("Table storage failed with status %s", exc.status_code)
        raise StorageUnavailable() from exc


def customer_entity(customer: Customer) -> dict:
    """Build a customer row; ``name_lower`` serves case-insensitive name searches."""
    entity = to_entity(customer, customer.id, CUSTOMER_ROW, name_lower=customer.name.lower())
    del entity["id"]
    return entity


def license_entity(license: License) -> dict:
    row = license_row(license.publisher_id, license.product_name)
    entity = to_entity(license, license.customer_id, row)
    del entity["customer_id"]
    return entity


def missing_table(exc: Exception) -> bool:
    """Tell a missing table (storage not ready) from a missing row."""
    return getattr(exc, "error_code", None) == "TableNotFound"


def read_row(table, partition_key: str, row_key: str) -> dict | None:
    """Point-read one row; None if it does not exist."""
    if not (keys.is_valid_key(partition_key) and keys.is_valid_key(row_key)):
        # No row can have such a key, and Table Storage rejects a read of one with 400.
        return None

    with translated_errors():
        try:
            return table.get_entity(partition_key, row_key)
        except ResourceNotFoundError as exc:
            if missing_table(exc):
                raise
            return None


class Store:
    """Reads and writes the licensing tables through one TableServiceClient."""

    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        self._service = service
        self._prefix = prefix
        self._catalog = service.get_table_client(prefix + "Catalog")
        self._customers = service.get_table_client(prefix + "Customers")
        self._environments = service.get_table_client(prefix + "Environments")
        self._audit = service.get_table_client(prefix + "Audit")
        self._tables_ready = False

    def table(self, name: str):
        """Return the TableClient of one of TABLES, for the admin API's queries."""
        return {
            "Catalog": self._catalog,
            "Customers": self._customers,
            "Environments": self._environments,
            "Audit": self._audit,
        }[name]

    @classmethod
    def from_settings(cls, settings: Settings, credential=None, **options) -> Store:
        """Connect with the connection string, else the endpoint and an identity.

        With an endpoint, the identity needs Storage Table Data Contributor.
        """
        options = {**CLIENT_OPTIONS, **options}
        options.setdefault("transport", pooled_transport(**options))
        if settings.tables_connection:
            try:
                service = TableServiceClient.from_connection_string(
                    settings.tables_connection, **options
                )
            except ValueError as exc:
                raise SettingsError("LICENSING_TABLES_CONNECTION is malformed") from exc
        elif settings.tables_endpoint:
            if credential is None:
                # Imported here: azure-identity is slow to import and only
                # needed in Azure.
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            service = TableServiceClient(settings.tables_endpoint, credential=credential, **options)
        else:
            raise SettingsError("Set LICENSING_TABLES_CONNECTION or LICENSING_TABLES_ENDPOINT")

        return cls(service, settings.table_prefix)

    def ensure_tables(self) -> None:
        """Create the tables unless this process already did."""
        if self._tables_ready:
            return

        with translated_errors():
            for name in TABLES:
                self._service.create_table_if_not_exists(self._prefix + name)
        self._tables_ready = True

    def ping(self) -> None:
        """Make one small read; raises StorageUnavailable when storage is down."""
        self.ensure_tables()
        with translated_errors():
            pages = self._catalog.query_entities(
                "PartitionKey eq @pk", parameters={"pk": "publisher"}, results_per_page=1
            ).by_page()
            next(pages, None)

    # Catalog

    def load_catalog(self) -> Catalog:
        publishers: dict[str, Publisher] = {}
        products: dict[tuple[str, str], Product] = {}
        with translated_errors():
            for entity in self._catalog.list_entities():
                if entity["PartitionKey"] == "publisher":
                    publisher = from_entity(Publisher, entity, id=entity["RowKey"])
                    publishers[publisher.id] = publisher
                else:
                    product = from_entity(Product, entity)
                    products[(product.publisher_id.lower(), product.name.lower())] = product

        return Catalog(publishers=publishers, products=products)

    def put_publisher(self, publisher: Publisher) -> None:
        entity = to_entity(publisher, "publisher", publisher.id.lower())
        with translated_errors():
            self._catalog.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def put_product(self, product: Product) -> None:
        row = keys.product_key(product.publisher_id, product.name)
        with translated_errors():
            self._catalog.upsert_entity(to_entity(product, "product", row), mode=UpdateMode.REPLACE)

    # Customers and licenses

    def get_customer(self, customer_id: str) -> tuple[Customer | None, dict[str, License]]:
        """Read a customer and its licenses (keyed by ``publisherId|name``, lower case)."""
        customer = None
        licenses: dict[str, License] = {}
        with translated_errors():
            for entity in self._customers.query_entities(
                "PartitionKey eq @pk", parameters={"pk": customer_id}
            ):
                if entity["RowKey"] == CUSTOMER_ROW:
                    customer = from_entity(Customer, entity, id=customer_id)
                elif entity["RowKey"].startswith(LICENSE_PREFIX):
                    license = from_entity(License, entity, customer_id=customer_id)
                    licenses[entity["RowKey"].removeprefix(LICENSE_PREFIX)] = license

        return customer, licenses

    def list_customers(self, unsearchable: set[str] | None = None) -> list[Customer]:
        """Return every customer; ids of rows without ``name_lower`` go into ``unsearchable``.

        Rows written before the name search existed lack that column, and the
        import rewrites them so that a name search finds them.
        """
        with translated_errors():
            entities = list(
                self._customers.query_entities("RowKey eq @row", parameters={"row": CUSTOMER_ROW})
            )

        if unsearchable is not None:
            unsearchable.update(e["PartitionKey"] for e in entities if "name_lower" not in e)
        return [from_entity(Customer, e, id=e["PartitionKey"]) for e in entities]

    def put_customer(self, customer: Customer) -> None:
        entity = customer_entity(customer)
        with translated_errors():
            self._customers.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def put_license(self, license: License) -> None:
        with translated_errors():
            self._customers.upsert_entity(license_entity(license), mode=UpdateMode.REPLACE)

    def add_licenses(self, licenses: list[License]) -> bool:
        """Insert licenses of one customer in one transaction, keeping existing ones.

        Returns False when a concurrent request created them first, which are
        then left as they are.
        """
        if not licenses:
            return False

        operations = [("create", license_entity(item)) for item in licenses]
        with translated_errors():
            try:
                self._customers.submit_transaction(operations)
            except TableTransactionError as exc:
                if exc.status_code != 409:
                    raise
                _LOGGER.info("Licenses of customer %s already created", licenses[0].customer_id)
                return False

        return True

    # Environments

    def get_environment(self, serial_number: str, tenant: str) -> Environment | None:
        entity = read_row(self._environments, keys.encode(serial_number), tenant.lower())
        if entity is None:
            return None

        return environment_from_entity(entity, keys.decode)

    def list_environments(self) -> list[Environment]:
        with translated_errors():
            return [
                environment_from_entity(e, keys.decode) for e in self._environments.list_entities()
            ]

    def put_environment(self, environment: Environment) -> None:
        """Write an environment's customer and active flag, keeping what it reported."""
        entity = {
            "PartitionKey": keys.encode(environment.serial_number),
            "RowKey": environment.tenant.lower(),
            "customer_id": environment.customer_id or "",
            "active": environment.active,
        }
        with translated_errors():
            self._environments.upsert_entity(entity, mode=UpdateMode.MERGE)

    def record_validation(
        self,
        known: Environment | None,
        sighting: Environment,
        reported: tuple[ReportedProduct, ...],
        now: datetime,
    ) -> None:
        """Record that an environment asked for validation at ``now``.

        ``known`` is the row read at the start of the validation (None if
        there was none). A new serial becomes an unregistered environment. A
        concurrent writer is detected by ETag; the row is then read again and
        merged, so neither first seen nor any reported product is lost.
        """
        for attempt in range(RECORD_ATTEMPTS):
            with translated_errors():
                try:
                    self._write_sighting(known, sighting, reported, now)
                    return
                except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
                    if missing_table(exc):
                        raise
                # Random back-off that doubles (to at most 1 s) spreads out writers
                # that collided, so that dozens of them at once still get through.
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
                known = self.get_environment(sighting.serial_number, sighting.tenant)

        _LOGGER.warning(
            "Validation of serial %s: reported products not merged after %s attempts",
            sighting.serial_number,
            RECORD_ATTEMPTS,
        )
        self._touch(sighting, now)

    def _touch(self, sighting: Environment, now: datetime) -> None:
        """Record last seen without the ETag check, when merging kept failing.

        NOTE: without the check, a later last seen written in between is set back
        to ``now``, and a first seen earlier than the stored one is not kept.
        """
        changes = {
            "PartitionKey": keys.encode(sighting.serial_number),
            "RowKey": sighting.tenant.lower(),
            "last_seen": now,
        }
        with translated_errors():
            self._environments.upsert_entity(changes, mode=UpdateMode.MERGE)

    def _write_sighting(self, known, sighting, reported, now) -> None:
        if known is None:
            first = Environment(
                serial_number=sighting.serial_number,
                tenant=sighting.tenant,
                host_url=sighting.host_url,
                is_production=sighting.is_production,
                first_seen=now,
                last_seen=now,
                reported=merge_reported((), reported),
            )
            self._environments.create_entity(self._environment_entity(first))
            return

        changes = {
            "PartitionKey": keys.encode(known.serial_number),
            "RowKey": known.tenant.lower(),
            "host_url": sighting.host_url,
            "is_production": sighting.is_production,
            # Writers that collided may land in any order: keep the earliest instant.
            "first_seen": min(now, known.first_seen or now),
            "last_seen": max(now, known.last_seen or now),
            "reported_blob": encode_reported(merge_reported(known.reported, reported)),
        }
        self._environments.update_entity(
            changes,
            mode=UpdateMode.MERGE,
            etag=known.etag,
            match_condition=MatchConditions.IfNotModified,
        )

    def _environment_entity(self, environment: Environment) -> dict:
        entity = to_entity(
            environment,
            keys.encode(environment.serial_number),
            environment.tenant.lower(),
            customer_id=environment.customer_id or "",
        )
        del entity["serial_number"], entity["tenant"]
        if environment.reported:
            entity["reported_blob"] = encode_reported(environment.reported)
        return entity
