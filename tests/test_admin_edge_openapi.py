"""The connector's definition against what the admin API really sends and needs."""

import re

import pytest

from licensing import openapi
from tests.admin_client import request
from tests.fixtures import FABRIKAM
from tests.test_admin import admin, demo_admin  # noqa: F401

# The body fields of each update that the URL already names.
NAMED_BY_URL = {
    "UpdatePublisher": {"id"},
    "UpdateProduct": {"publisherId", "name"},
    "UpdateCustomerProduct": {"publisherId", "productName"},
    "UpdateEnvironment": {"serialNumber", "tenant"},
}


def operations() -> dict[str, tuple[str, str, dict]]:
    found = {}
    for path, item in openapi.build()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (method.upper(), path, operation)
    return found


def schema(reference: dict) -> dict:
    return openapi.build()["definitions"][reference["$ref"].rsplit("/", 1)[-1]]


@pytest.mark.parametrize(
    "operation_id",
    ["ListPublishers", "ListCustomers", "GetExpiryReport", "ListAuditEntries"],
)
def test_declared_etag_header_is_sent(demo_admin, operation_id):  # noqa: F811
    method, path, operation = operations()[operation_id]
    declared = operation["responses"]["200"].get("headers", {})

    response = request(method, path.removeprefix("/"))

    assert response.status == 200
    assert "ETag" not in declared or response.etag


def test_error_schema_names_every_field_an_error_has(demo_admin):  # noqa: F811
    error = request("GET", f"v1/products/{FABRIKAM}/NoSuchProduct").body["error"]
    described = schema({"$ref": "#/definitions/Error"})["properties"]["error"]["properties"]

    assert set(error) <= set(described)


def test_update_body_requires_no_url_field():
    found = operations()
    for operation_id, fields in NAMED_BY_URL.items():
        body = next(p for p in found[operation_id][2]["parameters"] if p["in"] == "body")
        assert not fields & set(schema(body["schema"]).get("required", [])), operation_id


def test_operation_summaries_read_as_english():
    for operation_id, (_, _, operation) in operations().items():
        summary = operation["summary"]
        assert not re.search(r"\ba [aeiou]", summary), (operation_id, summary)
        assert not re.search(r"customer(product|environment)", summary), (operation_id, summary)
