"""Import files that must be rejected before anything is written.

A record listed twice, a date outside YYYY-MM-DD, a lone surrogate and a
deeply nested file each give an error message naming the problem.
"""

import pytest

from licensing.__main__ import main
from licensing.errors import InvalidInput
from licensing.importer import Importer, parse
from tests.fixtures import FABRIKAM


def site_license(**overrides) -> dict:
    return {
        "publisherId": FABRIKAM,
        "productName": "RentalManagement",
        "licenseType": "Annual",
        "siteLicense": True,
        **overrides,
    }


def test_environment_in_two_customers_rejected():
    environment = {"tenant": "contoso.com", "serialNumber": "TWICE-0001"}
    data = {
        "customers": [
            {"name": "First", "customerNumber": "C-1", "environments": [environment]},
            {"name": "Second", "customerNumber": "C-2", "environments": [environment]},
        ]
    }

    with pytest.raises(InvalidInput) as raised:
        parse(data)

    assert raised.value.code == "DUPLICATE"


def test_license_listed_twice_rejected():
    licenses = [site_license(), site_license(productName="rentalmanagement")]
    data = {"customers": [{"name": "Contoso", "customerNumber": "C-1", "products": licenses}]}

    with pytest.raises(InvalidInput) as raised:
        parse(data)

    assert raised.value.code == "DUPLICATE"


def test_iso_week_date_rejected():
    data = {
        "customers": [{"name": "Contoso", "products": [site_license(expirationDate="2025-W01-1")]}]
    }

    with pytest.raises(InvalidInput) as raised:
        parse(data)

    assert raised.value.target == "customers[0].products[0].expirationDate"


def test_lone_surrogate_serial_rejected_unwritten(store):
    environment = {"tenant": "contoso.com", "serialNumber": "AB\ud800C"}
    data = {"customers": [{"name": "Contoso", "environments": [environment]}]}

    with pytest.raises(InvalidInput):
        Importer(store).run(parse(data))

    assert store.list_customers() == []


def test_deeply_nested_file_reports_error(service_env, tmp_path, capsys):
    path = tmp_path / "nested.json"
    path.write_text('{"customers": ' + "[" * 100_000 + "]" * 100_000 + "}")

    code = main(["import", str(path)])

    assert code == 2
    assert capsys.readouterr().err.startswith("error:")
