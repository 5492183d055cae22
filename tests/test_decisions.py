"""The pure decision logic, with the clock and the records given."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from licensing.decisions import Status, automatic_license, decide, local_date
from licensing.models import Customer, Environment, License, Product

PUBLISHER = "3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44"
REGISTERED = Environment("SERIAL-1", "contoso.com", customer_id="c1")
PRODUCT = Product(PUBLISHER, "RentalManagement")
TODAY = date(2026, 6, 15)


def license(license_type: str = "Annual", **fields) -> License:
    return License("c1", PUBLISHER, "RentalManagement", license_type, **fields)


def status(environment=REGISTERED, product=PRODUCT, lic=None, today=TODAY) -> Status:
    return decide(PUBLISHER, "RentalManagement", environment, product, lic, today).status


def test_unknown_environment_not_registered():
    assert status(environment=None) is Status.ENVIRONMENT_NOT_REGISTERED


def test_environment_without_customer_not_registered():
    unregistered = Environment("SERIAL-1", "contoso.com")
    assert status(environment=unregistered, lic=license()) is Status.ENVIRONMENT_NOT_REGISTERED


def test_inactive_environment_decides_every_product():
    inactive = Environment("SERIAL-1", "contoso.com", customer_id="c1", active=False)
    assert status(environment=inactive, lic=license()) is Status.ENVIRONMENT_INACTIVE


def test_product_missing_from_catalog_unknown():
    assert status(product=None) is Status.UNKNOWN_PRODUCT


def test_inactive_product_wins_over_license():
    inactive = Product(PUBLISHER, "RentalManagement", active=False)
    assert status(product=inactive, lic=license()) is Status.PRODUCT_INACTIVE


def test_missing_license_not_licensed():
    assert status() is Status.NOT_LICENSED


def test_disabled_license_disabled_even_if_expired():
    lic = license(enabled=False, expiration_date=date(2020, 1, 1))
    assert status(lic=lic) is Status.DISABLED


def test_license_without_expiration_valid():
    assert status(lic=license(license_type="Perpetual")) is Status.VALID


def test_license_valid_on_expiration_day():
    assert status(lic=license(expiration_date=TODAY)) is Status.VALID


def test_license_expired_day_after():
    lic = license(expiration_date=date(2026, 6, 14))
    decision = decide(PUBLISHER, "RentalManagement", REGISTERED, PRODUCT, lic, TODAY)
    assert decision.status is Status.EXPIRED
    assert decision.licensed is False
    assert decision.disable_feature is False


@pytest.mark.parametrize(
    ("feature_disable", "expected"),
    [(date(2026, 6, 14), True), (TODAY, False), (None, False)],
)
def test_disable_feature_after_feature_disable_date(feature_disable, expected):
    lic = license(expiration_date=date(2026, 1, 31), feature_disable_date=feature_disable)
    decision = decide(PUBLISHER, "RentalManagement", REGISTERED, PRODUCT, lic, TODAY)
    assert decision.status is Status.EXPIRED
    assert decision.disable_feature is expected


def test_disabled_license_never_disables_feature():
    lic = license(
        enabled=False, expiration_date=date(2020, 1, 1), feature_disable_date=date(2020, 2, 1)
    )
    decision = decide(PUBLISHER, "RentalManagement", REGISTERED, PRODUCT, lic, TODAY)
    assert decision.disable_feature is False


def test_local_date_east_of_utc():
    moment = datetime(2026, 6, 14, 13, 0, tzinfo=UTC)
    assert local_date(moment, ZoneInfo("Pacific/Auckland")) == date(2026, 6, 15)


def test_local_date_west_of_utc():
    moment = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)
    assert local_date(moment, ZoneInfo("America/Los_Angeles")) == date(2026, 6, 14)


def test_local_date_rejects_naive_time():
    with pytest.raises(ValueError):
        local_date(datetime(2026, 6, 15), ZoneInfo("UTC"))


def test_automatic_license_perpetual_site_by_system():
    created = automatic_license(Customer("c1", "Contoso"), PRODUCT)
    assert created.license_type == "Perpetual"
    assert created.site_license is True
    assert created.enabled is True
    assert created.expiration_date is None
    assert created.created_by == "system"
