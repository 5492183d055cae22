"""Domain records. Dates are calendar dates; datetimes are timezone-aware UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

LICENSE_TYPES = (
    "Perpetual",
    "Month",
    "Quarter",
    "Annual",
    "Subscription",
    "Temp",
    "ManagedServices",
)

# The author recorded on records that the service creates by itself.
SYSTEM_AUTHOR = "system"


@dataclass(frozen=True)
class Publisher:
    id: str
    name: str


@dataclass(frozen=True)
class Product:
    publisher_id: str
    name: str
    description: str = ""
    region: str = ""
    disable_license_control: bool = False
    terms_url: str = ""
    user_guide_url: str = ""
    release_notes_url: str = ""
    support_email: str = ""
    active: bool = True


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    customer_number: str = ""
    description: str = ""
    region: str = ""


@dataclass(frozen=True)
class License:
    """A customer product: the customer's right to use one product."""

    customer_id: str
    publisher_id: str
    product_name: str
    license_type: str
    enabled: bool = True
    site_license: bool = False
    number_of_users: int | None = None
    subscription_start_date: date | None = None
    expiration_date: date | None = None
    feature_disable_date: date | None = None
    agreement_start_date: date | None = None
    wbs: str = ""
    invoiced_as: str = ""
    notes: str = ""
    created_by: str = ""


@dataclass(frozen=True)
class ReportedProduct:
    """The last report of an environment about one installed product."""

    publisher_id: str
    product_name: str
    model_name: str
    model_version: str
    is_enabled: bool
    is_installed: bool
    last_seen: datetime


@dataclass(frozen=True)
class Environment:
    """A FinOps environment, known by serial number and tenant.

    ``customer_id`` is None while the environment is unregistered: it asked
    for validation but no admin has assigned it to a customer yet.
    """

    serial_number: str
    tenant: str
    customer_id: str | None = None
    active: bool = True
    host_url: str = ""
    is_production: bool | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    reported: tuple[ReportedProduct, ...] = ()
    etag: str | None = field(default=None, compare=False)

    @property
    def registered(self) -> bool:
        return self.customer_id is not None


@dataclass(frozen=True)
class Catalog:
    """Publishers and products, looked up case-insensitively by name."""

    publishers: dict[str, Publisher]
    products: dict[tuple[str, str], Product]

    def product(self, publisher_id: str, name: str) -> Product | None:
        return self.products.get((publisher_id.lower(), name.lower()))
