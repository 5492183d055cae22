"""Two admin calls that overlap must leave the rules true and the audit log exact.

Each test runs a second call at the worst moment of the first: after the first
call checked its rule, just before it writes. A hook on the row write that the
first call makes sends the second call from inside it, so the interleaving is
the same on every run. Parallel requests to the development host from threads
often reach the same outcome.
"""

from collections.abc import Callable

from licensing.admin import rows
from tests.admin_client import query
from tests.fixtures import FABRIKAM, post_validate, product, request_body
from tests.test_admin import admin, create_customer, demo_admin, license_body  # noqa: F401


def before_write(monkeypatch, name: str, kind: str, second_call: Callable[[], object]) -> list:
    """Run ``second_call`` once, just before the first ``rows.<name>`` call for ``kind``.

    ``kind`` is the last argument of that call: the record kind, or for an
    assignment the environment's description.
    """
    original = getattr(rows, name)
    responses = []
    started = []

    def hooked(*args, **kwargs):
        if args[-1] == kind and not started:
            started.append(True)
            responses.append(second_call())
        return original(*args, **kwargs)

    monkeypatch.setattr(rows, name, hooked)
    return responses


def test_overlapping_deletes_of_one_customer_audit_one_delete(admin, monkeypatch):  # noqa: F811
    customer = create_customer("Deleted Twice Ltd")
    path = f"v1/customers/{customer['id']}"
    headers = {"If-Match": customer["etag"]}
    second = before_write(
        monkeypatch, "delete", "customer", lambda: admin("DELETE", path, headers=headers)
    )

    first = admin("DELETE", path, headers=headers)

    assert sorted([first.status, second[0].status]) != [204, 204]
    entries = admin("GET", "v1/audit" + query(entityId=customer["id"])).body["items"]
    assert [entry["action"] for entry in entries] == ["delete", "create"]


def test_customer_number_stays_unique_when_creates_overlap(admin, monkeypatch):  # noqa: F811
    body = {"name": "Second Claimant", "customerNumber": "C-7777"}
    second = before_write(
        monkeypatch, "create", "customer", lambda: admin("POST", "v1/customers", body)
    )

    first = admin("POST", "v1/customers", {"name": "First Claimant", "customerNumber": "C-7777"})

    assert sorted([first.status, second[0].status]) == [201, 409]
    found = admin("GET", "v1/customers" + query(customerNumber="C-7777")).body["items"]
    assert len(found) == 1


def test_license_during_customer_delete_not_orphaned(demo_admin, monkeypatch):  # noqa: F811
    customer = create_customer("Vanishing Customer Ltd")
    path = f"v1/customers/{customer['id']}"
    delete = before_write(
        monkeypatch,
        "create",
        "customerProduct",
        lambda: demo_admin("DELETE", path, headers={"If-Match": customer["etag"]}),
    )

    created = demo_admin("POST", f"{path}/products", license_body())

    license_path = f"{path}/products/{FABRIKAM}/RentalManagement"
    customer_gone = demo_admin("GET", path).status == 404
    license_kept = demo_admin("GET", license_path).status == 200
    assert not (customer_gone and license_kept), (delete[0].status, created.status)


def test_product_delete_during_license_create(demo_admin, monkeypatch):  # noqa: F811
    demo_admin("POST", "v1/products", {"publisherId": FABRIKAM, "name": "ShortLived"})
    product_path = f"v1/products/{FABRIKAM}/ShortLived"
    etag = demo_admin("GET", product_path).etag
    customer = create_customer("Licensee Ltd")
    before_write(
        monkeypatch,
        "create",
        "customerProduct",
        lambda: demo_admin("DELETE", product_path, headers={"If-Match": etag}),
    )

    demo_admin(
        "POST", f"v1/customers/{customer['id']}/products", license_body(productName="ShortLived")
    )

    product_gone = demo_admin("GET", product_path).status == 404
    licenses = demo_admin("GET", f"v1/customers/{customer['id']}/products").body["items"]
    assert not (product_gone and licenses)


def test_assign_during_customer_delete_stays_visible(demo_admin, monkeypatch):  # noqa: F811
    post_validate(
        request_body("EDGE-RACE-9", "fourthcoffee.com", product(FABRIKAM, "RentalManagement"))
    )
    waiting = demo_admin("GET", "v1/unregistered-environments").body["items"][0]
    customer = create_customer("Leaving Customer Ltd")
    customer_path = f"v1/customers/{customer['id']}"
    before_write(
        monkeypatch,
        "replace",
        "The environment",
        lambda: demo_admin("DELETE", customer_path, headers={"If-Match": customer["etag"]}),
    )

    demo_admin(
        "POST",
        f"v1/unregistered-environments/{waiting['id']}/assign",
        {"customerId": customer["id"]},
        {"If-Match": waiting["etag"]},
    )

    customer_gone = demo_admin("GET", customer_path).status == 404
    still_waiting = demo_admin("GET", "v1/unregistered-environments").body["items"]
    assert not customer_gone or [item["id"] for item in still_waiting] == [waiting["id"]]
