"""Hostile input to the admin API: a client's mistake is a 4xx, never a 5xx.

Each request below is something a client can send on any host. The service
must respond with a client error and a stable code, not with 500, and not
with 503 STORAGE_UNAVAILABLE, which tells the caller to retry a request that
can never succeed.
"""

import base64
import json

import pytest

from tests.admin_client import query
from tests.fixtures import FABRIKAM, post_validate, product, request_body
from tests.test_admin import admin, create_customer, demo_admin  # noqa: F401


def environment_id(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def page_token(continuation: dict) -> str:
    raw = json.dumps(continuation).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unregistered(admin, serial: str) -> dict:  # noqa: F811
    post_validate(request_body(serial, "fourthcoffee.com", product(FABRIKAM, "RentalManagement")))
    path = "v1/unregistered-environments" + query(serialNumber=serial)
    return admin("GET", path).body["items"][0]


def assert_client_error(response, *statuses: int) -> None:
    assert response.status in statuses, response.body
    assert response.body["error"]["code"] not in ("INTERNAL_ERROR", "STORAGE_UNAVAILABLE")


@pytest.mark.parametrize("etag", ["garbage", '"abc"', "W/\"datetime'x'\"x"])
def test_malformed_if_match_update_rejected(admin, etag):  # noqa: F811
    customer = create_customer("Malformed ETag Ltd")
    path = f"v1/customers/{customer['id']}"

    response = admin("PUT", path, {"name": "Changed"}, {"If-Match": etag})

    assert_client_error(response, 400, 412)
    assert admin("GET", path).body["name"] == "Malformed ETag Ltd"


def test_malformed_if_match_delete_rejected(admin):  # noqa: F811
    customer = create_customer("Malformed ETag Delete Ltd")
    path = f"v1/customers/{customer['id']}"

    response = admin("DELETE", path, headers={"If-Match": "garbage"})

    assert_client_error(response, 400, 412)
    assert admin("GET", path).status == 200


@pytest.mark.parametrize("top", ["\u00b2", "\u00b9"])
def test_top_with_a_superscript_digit_is_rejected(admin, top):  # noqa: F811
    response = admin("GET", "v1/publishers" + query(top=top))

    assert_client_error(response, 400)
    assert response.body["error"]["target"] == "top"


def test_page_token_holding_a_lone_surrogate_is_rejected(admin):  # noqa: F811
    token = page_token({"PartitionKey": "\ud800", "RowKey": "x"})

    response = admin("GET", "v1/publishers" + query(pageToken=token))

    assert_client_error(response, 400)
    assert response.body["error"]["target"] == "pageToken"


def test_oversized_page_token_is_rejected(admin):  # noqa: F811
    token = page_token({"PartitionKey": "A" * 20000, "RowKey": "B"})

    response = admin("GET", "v1/publishers" + query(pageToken=token))

    assert_client_error(response, 400)


def test_assign_lone_surrogate_customer_rejected(demo_admin):  # noqa: F811
    waiting = unregistered(demo_admin, "EDGE-SURROGATE-1")
    path = f"v1/unregistered-environments/{waiting['id']}/assign"

    response = demo_admin("POST", path, b'{"customerId": "\\ud800"}', {"If-Match": waiting["etag"]})

    assert_client_error(response, 400, 404)
    still = demo_admin("GET", "v1/unregistered-environments").body["items"]
    assert [item["id"] for item in still] == [waiting["id"]]


def test_assign_slash_customer_not_found(demo_admin):  # noqa: F811
    waiting = unregistered(demo_admin, "EDGE-SLASH-1")
    path = f"v1/unregistered-environments/{waiting['id']}/assign"

    response = demo_admin("POST", path, {"customerId": "a/b"}, {"If-Match": waiting["etag"]})

    assert_client_error(response, 400, 404)


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "v1/customers/{customer}/environments/{environment}"),
        ("GET", "v1/environments/{environment}/installed-products"),
        ("DELETE", "v1/unregistered-environments/{environment}"),
    ],
)
def test_environment_id_slash_tenant_not_found(admin, method, template):  # noqa: F811
    customer = create_customer("Slash Tenant Ltd")
    path = template.format(customer=customer["id"], environment=environment_id("a/b|SERIAL"))

    response = admin(method, path, headers={"If-Match": 'W/"x"'})

    assert_client_error(response, 404)
