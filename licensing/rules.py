"""Field rules of the data model, applied to records given as camelCase JSON.

Used by the import command; every error names the record and field at fault.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from . import keys
from .errors import InvalidInput
from .models import LICENSE_TYPES, Customer, Environment, License, Product, Publisher

EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_TEXT = 1000
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Record:
    """Typed access to one JSON object, reporting errors by its path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise InvalidInput(f"{path} must be an object.", path, "INVALID_TYPE")

        self.data = data
        self.path = path

    def fail(self, name: str, message: str, code: str = "INVALID_VALUE") -> InvalidInput:
        return InvalidInput(f"{self.path}.{name} {message}", f"{self.path}.{name}", code)

    def value(self, name: str, kind: type, default: Any = None, required: bool = False) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is missing.", "MISSING_FIELD")
            return default

        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(name, f"must be of type {kind.__name__}.", "INVALID_TYPE")

        return value

    def text(
        self, name: str, required: bool = False, limit: int = MAX_TEXT, multiline: bool = True
    ) -> str:
        value = self.value(name, str, "", required).strip()
        if required and not value:
            raise self.fail(name, "must not be blank.", "MISSING_FIELD")
        if len(value) > limit or not keys.printable(value, allow_newlines=multiline):
            raise self.fail(name, f"must be at most {limit} printable characters.")

        return value

    def matching(self, name: str, pattern: re.Pattern, rule: str, required: bool = True) -> str:
        value = self.text(name, required)
        if value and not pattern.fullmatch(value):
            raise self.fail(name, f"is invalid: expected {rule}.")

        return value

    def url(self, name: str) -> str:
        value = self.text(name, limit=2048)
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise self.fail(name, "must be an http or https URL.")

        return value

    def email(self, name: str) -> str:
        return self.matching(name, EMAIL, "an email address", required=False)

    def day(self, name: str) -> date | None:
        value = self.value(name, str)
        if not value:
            return None

        try:
            return date.fromisoformat(value) if DATE.fullmatch(value) else _no_date()
        except ValueError:
            raise self.fail(name, f"is not a real date in YYYY-MM-DD form: {value!r}.") from None


def _no_date() -> date:
    raise ValueError("not YYYY-MM-DD")


def publisher(data: Any, path: str) -> Publisher:
    record = Record(data, path)
    return Publisher(
        id=record.matching("id", keys.GUID, "the publisher's Entra tenant GUID").lower(),
        name=record.text("name", required=True, limit=200),
    )


def product(data: Any, path: str) -> Product:
    record = Record(data, path)
    return Product(
        publisher_id=record.matching("publisherId", keys.GUID, "a GUID").lower(),
        name=record.matching("name", keys.IDENTIFIER, "an X++ identifier of at most 81 characters"),
        description=record.text("description"),
        region=record.text("region", limit=100),
        disable_license_control=record.value("disableLicenseControl", bool, False),
        terms_url=record.url("termsUrl"),
        user_guide_url=record.url("userGuideUrl"),
        release_notes_url=record.url("releaseNotesUrl"),
        support_email=record.email("supportEmail"),
        active=record.value("active", bool, True),
    )


def customer(data: Any, path: str, customer_id: str = "") -> Customer:
    record = Record(data, path)
    return Customer(
        id=customer_id,
        name=record.text("name", required=True, limit=200),
        customer_number=record.text("customerNumber", limit=100),
        description=record.text("description"),
        region=record.text("region", limit=100),
    )


def environment(data: Any, path: str, customer_id: str) -> Environment:
    record = Record(data, path)
    # The same rule as the validation request, so every stored serial can validate.
    serial = record.text("serialNumber", required=True, limit=64, multiline=False)
    return Environment(
        serial_number=serial,
        tenant=record.matching("tenant", keys.DOMAIN, "a domain name such as contoso.com").lower(),
        customer_id=customer_id,
        active=record.value("active", bool, True),
    )


def license(data: Any, path: str, customer_id: str) -> License:
    record = Record(data, path)
    license_type = record.text("licenseType", required=True)
    if license_type not in LICENSE_TYPES:
        raise record.fail("licenseType", f"must be one of {', '.join(LICENSE_TYPES)}.")

    parsed = License(
        customer_id=customer_id,
        publisher_id=record.matching("publisherId", keys.GUID, "a GUID").lower(),
        product_name=record.matching("productName", keys.IDENTIFIER, "an X++ identifier"),
        license_type=license_type,
        enabled=record.value("enabled", bool, True),
        site_license=record.value("siteLicense", bool, False),
        number_of_users=record.value("numberOfUsers", int),
        subscription_start_date=record.day("subscriptionStartDate"),
        expiration_date=record.day("expirationDate"),
        feature_disable_date=record.day("featureDisableDate"),
        agreement_start_date=record.day("agreementStartDate"),
        wbs=record.text("wbs", limit=100),
        invoiced_as=record.text("invoicedAs", limit=200),
        notes=record.text("notes", limit=4000),
    )
    check_license(parsed, record)
    return parsed


def check_license(license: License, record: Record) -> None:
    """Apply the rules that relate several license fields."""
    users = license.number_of_users
    if not license.site_license and (users is None or users <= 0):
        raise record.fail(
            "numberOfUsers",
            "is required and must be positive when siteLicense is false: "
            "set numberOfUsers, or set siteLicense to true.",
        )
    if users is not None and not 0 <= users <= 1_000_000:
        raise record.fail("numberOfUsers", "must be between 0 and 1000000.")

    start, end = license.subscription_start_date, license.expiration_date
    if start and end and start > end:
        raise record.fail("subscriptionStartDate", "must not be after expirationDate.")
