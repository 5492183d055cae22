"""The admin API against Azurite, with Entra checks turned off (local developer)."""

import json
import threading
from datetime import UTC, date, datetime

import pytest

from licensing import runtime
from tests.admin_client import follow, query, request
from tests.fixtures import FABRIKAM, NORTHWIND, post_validate, product, request_body

NEW_PUBLISHER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture
def admin(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "LICENSING_AUTH_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    return request


@pytest.fixture
def demo_admin(admin, demo):
    return admin


def create_customer(name="Fourth Coffee", number=None, **fields) -> dict:
    body = {"name": name, **fields}
    if number:
        body["customerNumber"] = number
    response = request("POST", "v1/customers", body)
    assert response.status == 201, response.body
    return response.body


def customer_id(number: str) -> str:
    return request("GET", "v1/customers" + query(customerNumber=number)).body["items"][0]["id"]


def license_body(**fields) -> dict:
    return {
        "publisherId": FABRIKAM,
        "productName": "RentalManagement",
        "licenseType": "Annual",
        "siteLicense": False,
        "numberOfUsers": 10,
        "subscriptionStartDate": "2026-01-01",
        "expirationDate": "2026-12-31",
        **fields,
    }


def no_nulls(value) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


# Publishers and products


def test_publisher_create_read_update_delete(admin):
    created = admin("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "Tailwind Apps"})
    assert created.status == 201
    assert created.etag

    read = admin("GET", f"v1/publishers/{NEW_PUBLISHER}")
    assert read.body["name"] == "Tailwind Apps"
    assert read.etag == created.etag

    updated = admin(
        "PUT",
        f"v1/publishers/{NEW_PUBLISHER}",
        {"name": "Tailwind Apps Ltd"},
        {"If-Match": read.etag},
    )
    assert updated.status == 200
    assert updated.body["name"] == "Tailwind Apps Ltd"
    assert updated.etag != read.etag

    deleted = admin("DELETE", f"v1/publishers/{NEW_PUBLISHER}", headers={"If-Match": updated.etag})
    assert deleted.status == 204
    assert admin("GET", f"v1/publishers/{NEW_PUBLISHER}").status == 404


def test_publisher_list_pages(admin):
    ids = [f"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4{i}" for i in range(5)]
    for index, publisher_id in enumerate(ids):
        admin("POST", "v1/publishers", {"id": publisher_id, "name": f"Publisher {index}"})

    seen, path, pages = [], "v1/publishers?top=2", 0
    while path:
        page = admin("GET", path)
        assert page.status == 200
        assert len(page.body["items"]) <= 2
        seen += [item["id"] for item in page.body["items"]]
        pages += 1
        path = follow(page.body["nextLink"]) if "nextLink" in page.body else None

    assert sorted(seen) == sorted(ids)
    assert pages == 3


def test_bad_page_token_rejected(admin):
    response = admin("GET", "v1/publishers?pageToken=not-a-token")
    assert response.status == 400
    assert response.body["error"]["target"] == "pageToken"


@pytest.mark.parametrize("top", ["0", "1001", "ten", "-1"])
def test_bad_top_rejected(admin, top):
    assert admin("GET", f"v1/publishers?top={top}").status == 400


def test_product_names_unique_per_publisher(demo_admin):
    duplicate = {"publisherId": FABRIKAM, "name": "rentalmanagement"}
    response = demo_admin("POST", "v1/products", duplicate)
    assert response.status == 409
    assert response.body["error"]["code"] == "ALREADY_EXISTS"

    other_publisher = demo_admin(
        "POST", "v1/products", {"publisherId": NORTHWIND, "name": "RentalManagement"}
    )
    assert other_publisher.status == 201


def test_product_of_unknown_publisher_rejected(admin):
    response = admin("POST", "v1/products", {"publisherId": NEW_PUBLISHER, "name": "Orphan"})
    assert response.status == 400
    assert response.body["error"]["code"] == "UNKNOWN_REFERENCE"


def test_products_filtered_by_publisher(demo_admin):
    items = demo_admin("GET", f"v1/products?publisherId={NORTHWIND}").body["items"]
    assert sorted(item["name"] for item in items) == ["AdvancedPricing", "WarehouseLabels"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("termsUrl", "not a url"),
        ("userGuideUrl", "ftp://fabrikam.example/guide"),
        ("supportEmail", "support-at-fabrikam"),
        ("name", "Has Spaces"),
        ("name", ""),
    ],
)
def test_product_field_rules(demo_admin, field, value):
    body = {"publisherId": FABRIKAM, "name": "NewProduct", field: value}
    response = demo_admin("POST", "v1/products", body)
    assert response.status == 400
    assert response.body["error"]["target"] == f"body.{field}"


def test_product_rename_through_put_rejected(demo_admin):
    path = f"v1/products/{FABRIKAM}/RentalManagement"
    etag = demo_admin("GET", path).etag
    response = demo_admin("PUT", path, {"name": "Renamed"}, {"If-Match": etag})
    assert response.status == 400
    assert response.body["error"]["target"] == "name"


# Customers, licenses, environments


def test_customer_create_read_update_delete(admin):
    created = create_customer("Fourth Coffee", "C-3000", region="NA")
    path = f"v1/customers/{created['id']}"

    read = admin("GET", path)
    assert read.body["customerNumber"] == "C-3000"

    updated = admin(
        "PUT",
        path,
        {"name": "Fourth Coffee Inc", "customerNumber": "C-3000"},
        {"If-Match": read.etag},
    )
    assert updated.status == 200
    assert updated.body["name"] == "Fourth Coffee Inc"
    assert updated.body["region"] == ""

    assert admin("DELETE", path, headers={"If-Match": updated.etag}).status == 204
    assert admin("GET", path).status == 404


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": None}])
def test_customer_name_required(admin, body):
    response = admin("POST", "v1/customers", body)
    assert response.status == 400
    assert response.body["error"]["target"] == "body.name"


def test_customer_number_unique(demo_admin):
    response = demo_admin("POST", "v1/customers", {"name": "Copy", "customerNumber": "C-1001"})
    assert response.status == 409
    assert response.body["error"]["code"] == "DUPLICATE_CUSTOMER_NUMBER"


def test_customers_filtered_by_name_prefix_and_number(demo_admin):
    by_name = demo_admin("GET", "v1/customers?name=adventure").body["items"]
    by_number = demo_admin("GET", "v1/customers?customerNumber=C-1001").body["items"]
    assert [c["name"] for c in by_name] == ["Adventure Works Cycles"]
    assert [c["name"] for c in by_number] == ["Contoso Ltd"]


def test_license_create_read_update_delete(demo_admin):
    customer = create_customer("Fourth Coffee", "C-3000")
    base = f"v1/customers/{customer['id']}/products"

    created = demo_admin("POST", base, license_body())
    assert created.status == 201
    assert created.body["createdBy"] == "local developer"

    path = f"{base}/{FABRIKAM}/RentalManagement"
    updated = demo_admin("PUT", path, license_body(numberOfUsers=30), {"If-Match": created.etag})
    assert updated.body["numberOfUsers"] == 30
    assert updated.body["createdBy"] == "local developer"

    listed = demo_admin("GET", base).body["items"]
    assert [item["productName"] for item in listed] == ["RentalManagement"]

    assert demo_admin("DELETE", path, headers={"If-Match": updated.etag}).status == 204
    assert demo_admin("GET", base).body["items"] == []


def test_number_of_users_required_without_site_license(demo_admin):
    customer = create_customer()
    base = f"v1/customers/{customer['id']}/products"
    response = demo_admin("POST", base, license_body(numberOfUsers=None))

    error = response.body["error"]
    assert response.status == 400
    assert error["target"] == "body.numberOfUsers"
    assert "numberOfUsers" in error["message"]
    assert "siteLicense" in error["message"]


def test_number_of_users_must_be_positive(demo_admin):
    customer = create_customer()
    response = demo_admin(
        "POST", f"v1/customers/{customer['id']}/products", license_body(numberOfUsers=0)
    )
    assert response.status == 400


def test_site_license_needs_no_user_count(demo_admin):
    customer = create_customer()
    body = license_body(siteLicense=True, numberOfUsers=None)
    response = demo_admin("POST", f"v1/customers/{customer['id']}/products", body)
    assert response.status == 201
    assert "numberOfUsers" not in response.body


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"licenseType": "Lifetime"}, "body.licenseType"),
        ({"expirationDate": "2026-02-29"}, "body.expirationDate"),
        ({"expirationDate": "31/12/2026"}, "body.expirationDate"),
        ({"subscriptionStartDate": "2027-01-01"}, "body.subscriptionStartDate"),
        ({"productName": "NoSuchProduct"}, "productName"),
    ],
)
def test_license_field_rules(demo_admin, fields, target):
    customer = create_customer()
    response = demo_admin("POST", f"v1/customers/{customer['id']}/products", license_body(**fields))
    assert response.status == 400
    assert response.body["error"]["target"] == target


def test_license_active_is_derived(demo_admin, clock):
    clock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    customer = create_customer()
    created = demo_admin("POST", f"v1/customers/{customer['id']}/products", license_body())
    assert created.body["active"] is True

    clock(datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    listed = demo_admin("GET", f"v1/customers/{customer['id']}/products").body["items"]
    assert listed[0]["active"] is False


def test_environment_create_update_delete(demo_admin):
    customer = create_customer()
    base = f"v1/customers/{customer['id']}/environments"
    created = demo_admin("POST", base, {"serialNumber": "NEW/SER#1", "tenant": "fourthcoffee.com"})
    assert created.status == 201
    assert created.body["registered"] is True

    path = f"{base}/{created.body['id']}"
    updated = demo_admin("PUT", path, {"active": False}, {"If-Match": created.etag})
    assert updated.body["active"] is False
    assert updated.body["serialNumber"] == "NEW/SER#1"

    listed = demo_admin("GET", base + "?serialNumber=NEW/SER%231").body["items"]
    assert [item["tenant"] for item in listed] == ["fourthcoffee.com"]

    assert demo_admin("DELETE", path, headers={"If-Match": updated.etag}).status == 204


@pytest.mark.parametrize("tenant", ["", "   ", "not a domain", "a/b.com"])
def test_environment_tenant_required(demo_admin, tenant):
    customer = create_customer()
    body = {"serialNumber": "SER-T", "tenant": tenant}
    response = demo_admin("POST", f"v1/customers/{customer['id']}/environments", body)
    assert response.status == 400
    assert response.body["error"]["target"] == "body.tenant"


def test_environment_of_other_customer_not_found(demo_admin):
    customer = create_customer()
    contoso = customer_id("C-1001")
    environments = demo_admin("GET", f"v1/customers/{contoso}/environments").body["items"]
    other = f"v1/customers/{customer['id']}/environments/{environments[0]['id']}"
    assert demo_admin("GET", other).status == 404


# Delete rules


def test_licensed_product_cannot_be_deleted(demo_admin):
    path = f"v1/products/{FABRIKAM}/RentalManagement"
    response = demo_admin("DELETE", path, headers={"If-Match": demo_admin("GET", path).etag})
    assert response.status == 409
    assert response.body["error"]["code"] == "PRODUCT_LICENSED"


def test_publisher_with_products_cannot_be_deleted(demo_admin):
    path = f"v1/publishers/{FABRIKAM}"
    response = demo_admin("DELETE", path, headers={"If-Match": demo_admin("GET", path).etag})
    assert response.status == 409
    assert response.body["error"]["code"] == "PUBLISHER_HAS_PRODUCTS"


def test_customer_with_products_cannot_be_deleted(demo_admin):
    path = f"v1/customers/{customer_id('C-1001')}"
    response = demo_admin("DELETE", path, headers={"If-Match": demo_admin("GET", path).etag})
    assert response.status == 409
    assert response.body["error"]["code"] == "CUSTOMER_HAS_PRODUCTS"


def test_customer_with_environments_cannot_be_deleted(demo_admin):
    customer = create_customer()
    demo_admin(
        "POST",
        f"v1/customers/{customer['id']}/environments",
        {"serialNumber": "S-1", "tenant": "fc.com"},
    )
    path = f"v1/customers/{customer['id']}"
    response = demo_admin("DELETE", path, headers={"If-Match": demo_admin("GET", path).etag})
    assert response.status == 409
    assert response.body["error"]["code"] == "CUSTOMER_HAS_ENVIRONMENTS"


def test_license_of_customer_with_environments_cannot_be_deleted(demo_admin):
    path = f"v1/customers/{customer_id('C-1001')}/products/{FABRIKAM}/RentalManagement"
    response = demo_admin("DELETE", path, headers={"If-Match": demo_admin("GET", path).etag})
    assert response.status == 409
    assert response.body["error"]["code"] == "CUSTOMER_HAS_ENVIRONMENTS"


# ETags and concurrency


def test_update_without_if_match_rejected(demo_admin):
    response = demo_admin("PUT", f"v1/publishers/{FABRIKAM}", {"name": "X"})
    assert response.status == 428
    assert response.body["error"]["code"] == "PRECONDITION_REQUIRED"


def test_stale_etag_rejected(demo_admin):
    path = f"v1/publishers/{FABRIKAM}"
    stale = demo_admin("GET", path).etag
    assert demo_admin("PUT", path, {"name": "First"}, {"If-Match": stale}).status == 200

    second = demo_admin("PUT", path, {"name": "Second"}, {"If-Match": stale})
    assert second.status == 412
    assert second.body["error"]["code"] == "PRECONDITION_FAILED"
    assert demo_admin("GET", path).body["name"] == "First"


def test_stale_etag_rejected_on_delete(admin):
    admin("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "A"})
    path = f"v1/publishers/{NEW_PUBLISHER}"
    stale = admin("GET", path).etag
    admin("PUT", path, {"name": "B"}, {"If-Match": stale})
    assert admin("DELETE", path, headers={"If-Match": stale}).status == 412


def test_concurrent_updates_one_wins(demo_admin):
    path = f"v1/customers/{customer_id('C-1001')}"
    etag = demo_admin("GET", path).etag
    statuses = []

    def update(index):
        body = {"name": f"Contoso {index}", "customerNumber": "C-1001"}
        statuses.append(demo_admin("PUT", path, body, {"If-Match": etag}).status)

    threads = [threading.Thread(target=update, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [412] * 7


def test_every_read_has_etag(demo_admin):
    items = demo_admin("GET", "v1/customers").body["items"]
    assert all(item["etag"] for item in items)
    assert demo_admin("GET", f"v1/customers/{items[0]['id']}").etag == items[0]["etag"]


def test_responses_hold_no_nulls(demo_admin):
    for path in ("v1/publishers", "v1/products", "v1/customers", "v1/unregistered-environments"):
        assert no_nulls(demo_admin("GET", path).body)


# Unregistered environments and installed products


def test_assigned_environment_validates_as_registered(demo_admin, key_file):
    import jwt

    body = request_body("NEW-SER-42", "fourthcoffee.com", product(FABRIKAM, "RentalManagement"))
    post_validate(body)
    waiting = demo_admin("GET", "v1/unregistered-environments?serialNumber=NEW-SER-42").body[
        "items"
    ]
    assert [item["registered"] for item in waiting] == [False]

    contoso = customer_id("C-1001")
    path = f"v1/unregistered-environments/{waiting[0]['id']}/assign"
    assigned = demo_admin("POST", path, {"customerId": contoso}, {"If-Match": waiting[0]["etag"]})
    assert assigned.status == 200
    assert assigned.body["customerId"] == contoso

    token = json.loads(post_validate(body).get_body())["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["environment"]["registered"] is True
    assert claims["products"][0]["status"] == "VALID"
    assert demo_admin("GET", "v1/unregistered-environments").body["items"] == []


def test_assign_registered_environment_conflicts(demo_admin):
    contoso = customer_id("C-1001")
    env = demo_admin("GET", f"v1/customers/{contoso}/environments").body["items"][0]
    path = f"v1/unregistered-environments/{env['id']}/assign"
    response = demo_admin("POST", path, {"customerId": contoso}, {"If-Match": env["etag"]})
    assert response.status == 409


def test_dismiss_unregistered_environment(demo_admin):
    post_validate(request_body("NEW-SER-43", "x.com", product(FABRIKAM, "RentalManagement")))
    waiting = demo_admin("GET", "v1/unregistered-environments").body["items"][0]
    path = f"v1/unregistered-environments/{waiting['id']}"

    assert demo_admin("DELETE", path, headers={"If-Match": waiting["etag"]}).status == 204
    assert demo_admin("GET", "v1/unregistered-environments").body["items"] == []


def test_installed_products_listed(demo_admin):
    post_validate(
        request_body(
            "5KQ2-77XD-9WMA",
            "contoso.com",
            product(FABRIKAM, "RentalManagement", modelVersion="10.0.1.2"),
        )
    )
    env = demo_admin(
        "GET", "v1/customers/" + customer_id("C-1001") + "/environments?serialNumber=5KQ2-77XD-9WMA"
    )
    env_id = next(item["id"] for item in env.body["items"] if item["tenant"] == "contoso.com")
    items = demo_admin("GET", f"v1/environments/{env_id}/installed-products").body["items"]

    assert [(i["productName"], i["modelVersion"], i["isInstalled"]) for i in items] == [
        ("RentalManagement", "10.0.1.2", True)
    ]
    assert items[0]["lastSeen"].endswith("Z")


def test_unknown_environment_id_not_found(admin):
    assert admin("GET", "v1/environments/%%%/installed-products").status == 404


# Expiry report


def expiring_on(day: date) -> None:
    customer = create_customer(f"Expiry {day}")
    body = license_body(
        siteLicense=True, subscriptionStartDate=None, expirationDate=day.isoformat()
    )
    assert request("POST", f"v1/customers/{customer['id']}/products", body).status == 201


# Wednesday 2026-12-09: the week ends Sunday 12-13, the month 12-31,
# three months on is 2027-03-09, six months 2027-06-09, the year 12-31.
TODAY = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "last_day"),
    [
        ("thisWeek", date(2026, 12, 13)),
        ("thisMonth", date(2026, 12, 31)),
        ("next3Months", date(2027, 3, 9)),
        ("next6Months", date(2027, 6, 9)),
        ("thisYear", date(2026, 12, 31)),
    ],
)
def test_expiry_window_edges(demo_admin, clock, window, last_day):
    from datetime import timedelta

    clock(TODAY)
    for day in (date(2026, 12, 8), date(2026, 12, 9), last_day, last_day + timedelta(days=1)):
        expiring_on(day)

    report = demo_admin("GET", f"v1/reports/license-expiry?window={window}").body
    days = sorted(
        {
            item["expirationDate"]
            for item in report["items"]
            if item["customerName"].startswith("Expiry")
        }
    )

    assert days == ["2026-12-09", last_day.isoformat()]
    assert report["to"] == last_day.isoformat()


def test_expiry_report_includes_overdue(demo_admin, clock):
    clock(TODAY)
    expiring_on(date(2026, 12, 8))
    report = demo_admin("GET", "v1/reports/license-expiry?window=thisWeek&includeOverdue=true").body
    overdue = [item for item in report["items"] if item["expirationDate"] == "2026-12-08"]
    assert overdue[0]["overdue"] is True
    assert overdue[0]["daysUntilExpiration"] == -1


def test_expiry_report_rejects_unknown_window(admin):
    response = admin("GET", "v1/reports/license-expiry?window=nextDecade")
    assert response.status == 400
    assert response.body["error"]["target"] == "window"


# Audit log


def test_audit_records_changes_with_author(admin):
    created = admin("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "Audit Me"})
    path = f"v1/publishers/{NEW_PUBLISHER}"
    updated = admin("PUT", path, {"name": "Audited"}, {"If-Match": created.etag})
    admin("DELETE", path, headers={"If-Match": updated.etag})

    entries = admin("GET", f"v1/audit?entityId={NEW_PUBLISHER}").body["items"]
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    assert entries[1]["before"]["name"] == "Audit Me"
    assert entries[1]["after"]["name"] == "Audited"
    assert "after" not in entries[0]
    assert {e["authorName"] for e in entries} == {"local developer"}
    assert all(e["entityType"] == "publisher" for e in entries)


# With Entra ID tokens (signing keys served on loopback by the auth tests' server)

from tests.test_auth import USER_OID, entra, key_server, mint  # noqa: E402, F401


@pytest.mark.usefixtures("entra")
def test_audit_names_caller_from_token(service_env):
    token = mint(roles=["Licenses.Admin"])
    headers = {"Authorization": f"Bearer {token}"}
    created = request("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "Signed"}, headers)
    assert created.status == 201

    entries = request("GET", f"v1/audit?entityId={NEW_PUBLISHER}", headers=headers).body["items"]
    assert entries[0]["authorId"] == USER_OID
    assert entries[0]["authorName"] == "Megan Bowen"


@pytest.mark.usefixtures("entra")
def test_write_needs_write_role(service_env):
    headers = {"Authorization": f"Bearer {mint(roles=['Licenses.Read'])}"}
    response = request("POST", "v1/publishers", {"id": NEW_PUBLISHER, "name": "X"}, headers)
    assert response.status == 403
    assert request("GET", "v1/publishers", headers=headers).status == 200


@pytest.mark.usefixtures("entra")
def test_admin_call_without_token_unauthorized(service_env):
    response = request("GET", "v1/publishers")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
