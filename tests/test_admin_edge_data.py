"""What the admin API stores and shows: names, searches, the audit log, the report."""

from datetime import UTC, date, datetime

import pytest

from licensing.admin import reports
from licensing.importer import Importer, parse
from licensing.models import Customer
from licensing.storage import customer_entity
from tests.admin_client import query
from tests.fixtures import FABRIKAM, post_validate, product, request_body
from tests.test_admin import (  # noqa: F401
    admin,
    create_customer,
    customer_id,
    demo_admin,
    license_body,
)

NEW_PUBLISHER = "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


def test_product_put_keeps_name_case(demo_admin):  # noqa: F811
    etag = demo_admin("GET", f"v1/products/{FABRIKAM}/RentalManagement").etag
    body = {"publisherId": FABRIKAM, "name": "RentalManagement", "description": "Rentals"}

    updated = demo_admin(
        "PUT", f"v1/products/{FABRIKAM}/rentalmanagement", body, {"If-Match": etag}
    )

    assert updated.status == 200
    assert updated.body["name"] == "RentalManagement"


def test_license_put_keeps_product_name_case(demo_admin):  # noqa: F811
    path = f"v1/customers/{customer_id('C-1001')}/products/{FABRIKAM}"
    current = demo_admin("GET", f"{path}/RentalManagement")
    body = {key: value for key, value in current.body.items() if key != "etag"}

    updated = demo_admin(
        "PUT", f"{path}/RENTALMANAGEMENT", {**body, "notes": "Renewed"}, {"If-Match": current.etag}
    )

    assert updated.status == 200
    assert updated.body["productName"] == "RentalManagement"


def test_customer_from_earlier_import_found_by_name(admin, store):  # noqa: F811
    # A customer row as the import wrote it before the name search existed.
    entity = customer_entity(Customer(id="earlier-import-1", name="Wide World Importers"))
    del entity["name_lower"]
    store.table("Customers").create_entity(entity)

    Importer(store).run(parse({"customers": [{"name": "Wide World Importers"}]}))

    found = admin("GET", "v1/customers" + query(name="wide world")).body["items"]
    assert [item["name"] for item in found] == ["Wide World Importers"]


def test_license_created_by_disable_license_control_is_audited(demo_admin):  # noqa: F811
    body = request_body(
        "9HTR-41KD-8QWE", "adventure-works.com", product(FABRIKAM, "FleetTelematics")
    )
    post_validate(body)
    adventure_works = customer_id("C-2040")
    created = demo_admin(
        "GET", f"v1/customers/{adventure_works}/products/{FABRIKAM}/FleetTelematics"
    )
    assert created.body["createdBy"] == "system"

    entity = f"{adventure_works}/{FABRIKAM}/FleetTelematics"
    entries = demo_admin("GET", "v1/audit" + query(entityId=entity)).body["items"]

    assert [entry["authorName"] for entry in entries] == ["system"]


@pytest.mark.parametrize("serial", ["TAB\tSERIAL", "LINE\nSERIAL"])
def test_environment_serial_validate_rejects_is_rejected(admin, serial):  # noqa: F811
    customer = create_customer("Control Characters Ltd")

    response = admin(
        "POST",
        f"v1/customers/{customer['id']}/environments",
        {"serialNumber": serial, "tenant": "fourthcoffee.com"},
    )

    assert response.status == 400
    assert response.body["error"]["target"] == "body.serialNumber"


def two_expiring_licenses(admin) -> tuple[str, str]:  # noqa: F811
    """Two licenses; the customer whose rows the report reads first expires later."""
    admin("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "Report Publisher"})
    admin("POST", "v1/products", {"publisherId": NEW_PUBLISHER, "name": "Reported"})
    first, second = sorted(create_customer(f"Report {i}")["id"] for i in range(2))
    for customer, day in ((first, "2026-12-28"), (second, "2026-12-20")):
        body = {
            "publisherId": NEW_PUBLISHER,
            "productName": "Reported",
            "licenseType": "Annual",
            "siteLicense": True,
            "expirationDate": day,
        }
        assert admin("POST", f"v1/customers/{customer}/products", body).status == 201
    return "2026-12-20", "2026-12-28"


def test_truncated_expiry_report_keeps_soonest(admin, clock, monkeypatch):  # noqa: F811
    clock(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    sooner, _ = two_expiring_licenses(admin)
    monkeypatch.setattr(reports, "MAX_ROWS", 1)

    report = admin("GET", "v1/reports/license-expiry?window=thisMonth").body

    assert report["truncated"] is True
    assert [item["expirationDate"] for item in report["items"]] == [sooner]


def test_expiry_report_at_row_limit_not_truncated(admin, clock, monkeypatch):  # noqa: F811
    clock(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    two_expiring_licenses(admin)
    monkeypatch.setattr(reports, "MAX_ROWS", 2)

    report = admin("GET", "v1/reports/license-expiry?window=thisMonth").body

    assert len(report["items"]) == 2
    assert report["truncated"] is False
    assert date.fromisoformat(report["to"]) == date(2026, 12, 31)
