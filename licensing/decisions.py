"""License decisions: pure functions of the stored records and the clock.

A license is valid through the whole of its expiration date in the service's
time zone; it expires at the first instant of the next day there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from .models import SYSTEM_AUTHOR, Customer, Environment, License, Product


class Status(StrEnum):
    VALID = "VALID"
    EXPIRED = "EXPIRED"
    DISABLED = "DISABLED"
    NOT_LICENSED = "NOT_LICENSED"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    PRODUCT_INACTIVE = "PRODUCT_INACTIVE"
    ENVIRONMENT_NOT_REGISTERED = "ENVIRONMENT_NOT_REGISTERED"
    ENVIRONMENT_INACTIVE = "ENVIRONMENT_INACTIVE"


@dataclass(frozen=True)
class Decision:
    """The decision for one requested product."""

    publisher_id: str
    product_name: str
    status: Status
    product: Product | None = None
    license: License | None = None
    disable_feature: bool = False

    @property
    def licensed(self) -> bool:
        return self.status is Status.VALID


def local_date(now: datetime, zone: ZoneInfo) -> date:
    """Return the calendar date of an aware instant in the given time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    return now.astimezone(zone).date()


def has_passed(day: date | None, today: date) -> bool:
    """Return True once ``today`` is after ``day``; a missing date never passes."""
    return day is not None and today > day


def decide(
    publisher_id: str,
    product_name: str,
    environment: Environment | None,
    product: Product | None,
    license: License | None,
    today: date,
) -> Decision:
    """Decide one product for one environment on ``today`` (a local date).

    The checks run from the environment inward: an unregistered or inactive
    environment decides every product, then the product, then the license.
    """

    def answer(status: Status, **extra) -> Decision:
        return Decision(publisher_id, product_name, status, **extra)

    if environment is None or not environment.registered:
        return answer(Status.ENVIRONMENT_NOT_REGISTERED)
    if not environment.active:
        return answer(Status.ENVIRONMENT_INACTIVE)
    if product is None:
        return answer(Status.UNKNOWN_PRODUCT)
    if not product.active:
        return answer(Status.PRODUCT_INACTIVE, product=product)
    if license is None:
        return answer(Status.NOT_LICENSED, product=product)
    if not license.enabled:
        return answer(Status.DISABLED, product=product, license=license)

    if has_passed(license.expiration_date, today):
        disable = has_passed(license.feature_disable_date, today)
        return answer(Status.EXPIRED, product=product, license=license, disable_feature=disable)

    return answer(Status.VALID, product=product, license=license)


def automatic_license(customer: Customer, product: Product) -> License:
    """Build the perpetual site license that disable license control grants."""
    return License(
        customer_id=customer.id,
        publisher_id=product.publisher_id,
        product_name=product.name,
        license_type="Perpetual",
        enabled=True,
        site_license=True,
        notes="Created automatically: the product has license control disabled.",
        created_by=SYSTEM_AUTHOR,
    )
