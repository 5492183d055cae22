"""The import command: checks the whole file first, and is idempotent."""

import json
from datetime import UTC

import pytest

from licensing.__main__ import main
from licensing.errors import InvalidInput
from licensing.importer import Importer, parse
from tests.fixtures import DEMO_FILE, FABRIKAM


def demo_data() -> dict:
    return json.loads(DEMO_FILE.read_text())


def test_import_twice_changes_nothing(store):
    first = Importer(store).run(parse(demo_data()))
    environments = store.list_environments()
    second = Importer(store).run(parse(demo_data()))

    assert first["created"] > 0
    assert second["created"] == 0
    assert second["updated"] == 0
    assert store.list_environments() == environments
    assert len(store.list_customers()) == 3


def test_import_command_reports_counts(service_env, capsys):
    assert main(["import", str(DEMO_FILE)]) == 0
    assert main(["import", str(DEMO_FILE)]) == 0
    assert "0 created, 0 updated" in capsys.readouterr().out


def test_customer_matched_by_number_then_name(store):
    data = demo_data()
    Importer(store).run(parse(data))
    data["customers"][0]["name"] = "Contoso Group"
    data["customers"][2]["description"] = "Toys"

    counts = Importer(store).run(parse(data))

    names = sorted(c.name for c in store.list_customers())
    assert names == ["Adventure Works Cycles", "Contoso Group", "Tailspin Toys"]
    assert counts["updated"] == 2


def test_demo_covers_serial_under_two_tenants(store):
    Importer(store).run(parse(demo_data()))
    tenants = {e.tenant for e in store.list_environments() if e.serial_number == "5KQ2-77XD-9WMA"}
    assert tenants == {"contoso.com", "contoso.onmicrosoft.com"}


def test_import_keeps_reported_products(store):
    from datetime import datetime

    from licensing.models import ReportedProduct

    Importer(store).run(parse(demo_data()))
    known = store.get_environment("5KQ2-77XD-9WMA", "contoso.com")
    seen = datetime(2026, 12, 1, tzinfo=UTC)
    reported = (ReportedProduct(FABRIKAM, "RentalManagement", "M", "1.0", True, True, seen),)
    store.record_validation(known, known, reported, seen)

    data = demo_data()
    data["customers"][0]["environments"][0]["active"] = False
    Importer(store).run(parse(data))

    stored = store.get_environment("5KQ2-77XD-9WMA", "contoso.com")
    assert stored.active is False
    assert stored.reported == reported


def license_of(**fields) -> dict:
    return {
        "publisherId": FABRIKAM,
        "productName": "RentalManagement",
        "licenseType": "Annual",
        **fields,
    }


def with_license(**fields) -> dict:
    data = demo_data()
    data["customers"][0]["products"] = [license_of(**fields)]
    return data


@pytest.mark.parametrize(
    ("data", "target"),
    [
        (with_license(siteLicense=False), "customers[0].products[0].numberOfUsers"),
        (
            with_license(siteLicense=False, numberOfUsers=0),
            "customers[0].products[0].numberOfUsers",
        ),
        (
            with_license(licenseType="Lifetime", siteLicense=True),
            "customers[0].products[0].licenseType",
        ),
        (
            with_license(siteLicense=True, expirationDate="2026-02-30"),
            "customers[0].products[0].expirationDate",
        ),
        (
            with_license(
                siteLicense=True, subscriptionStartDate="2027-01-01", expirationDate="2026-01-01"
            ),
            "customers[0].products[0].subscriptionStartDate",
        ),
        (
            with_license(siteLicense=True, productName="Missing"),
            "customers[0].products[0].productName",
        ),
        ({"publishers": [{"id": "not-a-guid", "name": "X"}]}, "publishers[0].id"),
        ({"customers": [{"name": " "}]}, "customers[0].name"),
        (
            {
                "customers": [
                    {"name": "A", "environments": [{"serialNumber": "S", "tenant": "a/b"}]}
                ]
            },
            "customers[0].environments[0].tenant",
        ),
        ({"products": [{"publisherId": FABRIKAM, "name": "Rental Mgmt"}]}, "products[0].name"),
        (
            {"products": [{"publisherId": FABRIKAM, "name": "X", "supportEmail": "nobody"}]},
            "products[0].supportEmail",
        ),
    ],
)
def test_bad_file_rejected_before_any_write(store, data, target):
    with pytest.raises(InvalidInput) as caught:
        Importer(store).run(parse(data))

    assert caught.value.target == target
    assert store.list_customers() == []
    assert store.load_catalog().products == {}


def test_site_license_needs_no_user_count(store):
    Importer(store).run(parse(with_license(siteLicense=True)))
    assert len(store.list_customers()) == 3


def test_import_command_rejects_unreadable_file(service_env, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{")
    assert main(["import", str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_import_writes_audit_entries(store):
    from licensing.admin import audit

    Importer(store).run(parse(demo_data()))
    first = list(store.table("Audit").list_entities())
    Importer(store).run(parse(demo_data()))
    second = list(store.table("Audit").list_entities())

    assert len(first) == 25
    assert len(second) == 25
    entry = audit.view(first[0])
    assert entry["action"] == "import"
    assert entry["authorName"] == "import command"
