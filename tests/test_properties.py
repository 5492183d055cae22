"""Property-based tests: arbitrary JSON, headers, query strings and path values sent
to validate and to every admin operation never get a 5xx, and a rejected request
stores nothing.

Each call is bracketed by a snapshot of every table (keys and ETags). A rejected
call must leave it unchanged. An accepted call may change exactly what its
operation writes: a validation its environment row (and licenses that disable
license control creates), an admin write its one row and one audit entry.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from urllib.parse import quote, urlencode

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing import keys, runtime
from licensing.admin.views import environment_id
from licensing.api.admin import OPERATIONS, Operation
from licensing.storage import TABLES, Store
from tests.admin_client import request
from tests.fixtures import FABRIKAM, NONCE, NORTHWIND, function

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    # The tables are set up once per test, and each example compares them before and after.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any character JSON can carry, lone surrogates included (json.dumps escapes them).
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=24)
# Text that can be percent-encoded into a URL (no lone surrogates), with the
# characters that Table Storage keys and OData filters treat specially.
URL_TEXT = st.sampled_from(
    ["a/b", "\\", "#", "?", "%", "'", "..", " ", "\x01", "x" * 1100]
) | st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)

DEMO_SERIALS = ["5KQ2-77XD-9WMA", "7PLM-22QA-3XZT", "9HTR-41KD-8QWE", "3MNB-66PO-1LKJ"]
DEMO_TENANTS = ["contoso.com", "adventure-works.com", "tailspintoys.com"]
DEMO_PRODUCTS = [
    (FABRIKAM, "RentalManagement"),
    (FABRIKAM, "FleetTelematics"),
    (FABRIKAM, "ServiceContracts"),
    (NORTHWIND, "WarehouseLabels"),
]

HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "Content-Length",
        "Authorization",
        "If-Match",
        "Origin",
        "X-Forwarded-For",
        "x-request-id",
        "traceparent",
        "x-functions-key",
    ]
) | st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
# Header values as an HTTP host passes them on: Latin-1 text without control characters.
HEADER_VALUES = st.sampled_from(
    ["application/json", "text/plain", "0", "-1", "99999999999999999999", "Bearer x", "*"]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"))
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4)
QUERY = st.dictionaries(
    st.sampled_from(
        ["code", "top", "pageToken", "name", "customerNumber", "publisherId", "serialNumber"]
        + ["window", "includeOverdue", "entityType", "entityId"]
    )
    | URL_TEXT,
    st.sampled_from(["1", "0", "1000", "1001", "true", "thisWeek", "eyJ9"]) | URL_TEXT,
    max_size=3,
)


# A mutation that removes the field instead of replacing it.
DROP = object()
REPLACEMENTS = st.one_of(st.just(DROP), ANY_TEXT, JSON_VALUES)


def apply_mutations(template: dict, mutations: list[tuple[tuple, object]]) -> dict:
    """Return a copy of ``template`` with each (path, value) set, or removed for DROP."""
    body = copy.deepcopy(template)
    for path, value in mutations:
        parent = body
        for step in path[:-1]:
            inside = isinstance(parent, dict) and step in parent
            inside = inside or (isinstance(parent, list) and 0 <= step < len(parent))
            if not inside:
                break
            parent = parent[step]
        else:
            last = path[-1]
            if isinstance(parent, dict) and value is DROP:
                parent.pop(last, None)
            elif isinstance(parent, dict):
                parent[last] = value
            elif isinstance(parent, list) and 0 <= last < len(parent):
                parent[last] = None if value is DROP else value

    return body


def varied(template: dict, paths: list[tuple]) -> st.SearchStrategy[dict]:
    """Draw ``template`` with up to two fields replaced by arbitrary JSON, or removed.

    Bodies without a mutation are valid, so some requests are accepted and write.
    """
    mutations = st.lists(st.tuples(st.sampled_from(paths), REPLACEMENTS), max_size=2)
    return mutations.map(lambda chosen: apply_mutations(template, chosen))


PRODUCT_FIELDS = ["publisherId", "productName", "modelName", "modelVersion"]
PRODUCT_FIELDS += ["isEnabled", "isInstalled"]
VALIDATION_PATHS = [
    (name,)
    for name in ["serialNumber", "tenant", "hostUrl", "isProductionEnvironment", "nonce"]
    + ["products", "unknownField"]
]
VALIDATION_PATHS += [("products", index, name) for index in (0, 1) for name in PRODUCT_FIELDS]
VALIDATION_PATHS += [("products", index) for index in (0, 1, 2)]


def validation_template(serial: str, tenant: str, products: list[tuple[str, str]]) -> dict:
    return {
        "serialNumber": serial,
        "tenant": tenant,
        "hostUrl": "https://contoso-prod.operations.dynamics.com",
        "isProductionEnvironment": True,
        "nonce": NONCE,
        "products": [
            {
                "publisherId": publisher,
                "productName": name,
                "modelName": "ISV" + name,
                "modelVersion": "10.0.43.202506241",
                "isEnabled": True,
                "isInstalled": True,
            }
            for publisher, name in products
        ],
    }


SERIALS = st.sampled_from(DEMO_SERIALS) | st.just("PROP-0001") | ANY_TEXT
VALIDATION_TEMPLATES = st.builds(
    validation_template,
    SERIALS,
    st.sampled_from(DEMO_TENANTS),
    st.lists(st.sampled_from(DEMO_PRODUCTS), min_size=1, max_size=3, unique=True),
)
VALIDATION_BODIES = st.one_of(
    VALIDATION_TEMPLATES.flatmap(lambda template: varied(template, VALIDATION_PATHS)),
    JSON_VALUES,
)


def encoded(body) -> bytes:
    return json.dumps(body).encode("utf-8")


RAW_BODIES = VALIDATION_BODIES.map(encoded) | st.binary(max_size=64)


# Table snapshots


def snapshot(store: Store) -> dict[tuple[str, str, str], str]:
    """Return the ETag of every row of every table, keyed by (table, PartitionKey, RowKey)."""
    rows = {}
    for name in TABLES:
        for entity in store.table(name).list_entities():
            rows[(name, entity["PartitionKey"], entity["RowKey"])] = entity.metadata["etag"]

    return rows


def changes(before: dict, after: dict) -> tuple[set, set, set]:
    added = set(after) - set(before)
    removed = set(before) - set(after)
    modified = {key for key in set(before) & set(after) if before[key] != after[key]}
    return added, removed, modified


def tables_of(row_keys: set) -> list[str]:
    return sorted(key[0] for key in row_keys)


# Validate


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def validate(body: bytes, headers: dict, params: dict) -> func.HttpResponse:
    url = "http://localhost/api/v1/validate"
    if params:
        url += "?" + urlencode(params)
    http_request = func.HttpRequest(
        "POST",
        url,
        headers={"Content-Type": "application/json", **headers},
        params=params,
        body=body,
    )
    return function("validate")(http_request)


def check_validation(store: Store, body: bytes, headers: dict, params: dict) -> None:
    before = snapshot(store)
    response = validate(body, headers, params)
    after = snapshot(store)

    status = response.status_code
    assert status < 500, response.get_body()
    added, removed, modified = changes(before, after)
    if status != 200:
        assert (added, removed, modified) == (set(), set(), set()), status
        return

    # A body that happens to be valid gets a token, and the validation is recorded.
    claims = claims_of(json.loads(response.get_body())["token"])
    environment = ("Environments", keys.encode(claims["sub"]), claims["tenant"])
    assert removed == set()
    assert environment in added | modified
    others = (added | modified) - {environment}
    assert all(key[0] == "Customers" and key[2].startswith("license|") for key in others)
    assert others <= added


@pytest.fixture
def demo_admin(service_env, monkeypatch, demo) -> Store:
    """The demo data, with Entra checks off so that admin calls run as the local developer."""
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "LICENSING_AUTH_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    return demo


@BOUNDED
@given(body=VALIDATION_BODIES)
def test_validate_arbitrary_json(demo, body):
    check_validation(demo, encoded(body), {}, {})


@BOUNDED
@given(body=RAW_BODIES, headers=HEADERS, params=QUERY)
def test_validate_arbitrary_headers_and_query(demo, body, headers, params):
    check_validation(demo, body, headers, params)


# Admin operations


def stored_records(store: Store) -> dict[tuple[str, ...], list[dict[str, str]]]:
    """Return the path values of every stored record, keyed by the route's parameter names."""
    catalog = store.load_catalog()
    customers = store.list_customers()
    environments = store.list_environments()
    licenses = [
        {"customerId": row["PartitionKey"], "publisherId": row["publisher_id"]}
        | {"productName": row["product_name"]}
        for row in store.table("Customers").list_entities()
        if row["RowKey"].startswith("license|")
    ]
    return {
        ("publisherId",): [{"publisherId": key} for key in catalog.publishers],
        ("publisherId", "productName"): [
            {"publisherId": product.publisher_id, "productName": product.name}
            for product in catalog.products.values()
        ],
        ("customerId",): [{"customerId": customer.id} for customer in customers],
        ("customerId", "publisherId", "productName"): licenses,
        ("customerId", "environmentId"): [
            {
                "customerId": e.customer_id,
                "environmentId": environment_id(e.serial_number, e.tenant),
            }
            for e in environments
            if e.customer_id
        ],
        ("environmentId",): [
            {"environmentId": environment_id(e.serial_number, e.tenant)} for e in environments
        ],
    }


def body_template(operation: Operation, customers: list[str]) -> dict:
    """Return a body the operation would accept, as a starting point to vary.

    Update bodies leave out the fields that the URL fixes.
    """
    kind, creating = operation.request, operation.method == "POST"
    if kind == "Publisher":
        return {"id": str(uuid.uuid4()), "name": "Tailwind Apps"} if creating else {"name": "T"}
    if kind == "Product":
        body = {"description": "Inspections", "supportEmail": "a@b.example", "active": True}
        return {"publisherId": FABRIKAM, "name": "Inspections", **body} if creating else body
    if kind == "Customer":
        return {"name": "Fourth Coffee", "region": "EU"}
    if kind == "CustomerProduct":
        body = {"licenseType": "Annual", "siteLicense": False, "numberOfUsers": 10}
        body["expirationDate"] = "2027-12-31"
        key = {"publisherId": FABRIKAM, "productName": "RentalManagement"}
        return {**key, **body} if creating else body
    if kind == "Environment":
        key = {"serialNumber": "PROP-ENV-0001", "tenant": "contoso.com"}
        return {**key, "active": True} if creating else {"active": False}
    if kind == "Assignment":
        return {"customerId": customers[0] if customers else "none"}
    return {}


def expected_writes(operation: Operation) -> tuple[int, int, int]:
    """Return the rows an accepted write adds, removes and modifies outside the audit log."""
    if operation.method == "DELETE":
        return 0, 1, 0
    if operation.method == "POST" and operation.status == 201:
        return 1, 0, 0
    return 0, 0, 1


def check_admin_call(store: Store, operation: Operation, path: str, body, headers) -> None:
    """Send one admin request and check what it stored."""
    before = snapshot(store)
    response = request(operation.method, path, body, headers)
    after = snapshot(store)

    assert response.status < 500, (operation.operation_id, path, response.body)
    added, removed, modified = changes(before, after)
    if response.status >= 300 or operation.method == "GET":
        assert (added, removed, modified) == (set(), set(), set()), response.status
        return

    # An accepted write changes its one row and appends one audit entry.
    assert response.status == operation.status, response.body
    audit = {key for key in added if key[0] == "Audit"}
    assert len(audit) == 1
    counts = (len(added - audit), len(removed), len(modified))
    assert counts == expected_writes(operation), (tables_of(added), removed, modified)


def route_parameters(operation: Operation) -> tuple[str, ...]:
    return tuple(re.findall(r"\{(\w+)\}", operation.route))


def fill_route(route: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), route)


def draw_path(data, operation: Operation, records: dict) -> tuple[str, dict[str, str]]:
    """Draw the path of a stored record, or one whose values are partly or wholly arbitrary.

    The draws have the same shape whatever the store contains, so that Hypothesis
    gets one consistent search space while the tables change between examples.
    """
    names = route_parameters(operation)
    use_record, index = data.draw(st.tuples(st.booleans(), st.integers(0, 255)), "record")
    texts = data.draw(st.tuples(*(st.tuples(st.booleans(), URL_TEXT) for _ in names)), "values")

    stored = records.get(names, [])
    values = dict(stored[index % len(stored)]) if use_record and stored else {}
    for name, (replace, text) in zip(names, texts, strict=True):
        if replace or name not in values:
            values[name] = text
    return fill_route(operation.route, values), values


def draw_body(data, operation: Operation, records: dict):
    customers = [item["customerId"] for item in records[("customerId",)]]
    template = body_template(operation, customers)
    paths = [(name,) for name in template] + [("unknownField",)]
    bodies = varied(template, paths) | JSON_VALUES | st.binary(max_size=64)
    return data.draw(bodies, "body")


def current_etag(store: Store, operation: Operation, path: str, values: dict) -> str:
    """Return the ETag of the record a write names, or a made-up one if there is none."""
    if operation.route.startswith("v1/unregistered"):
        for row in store.table("Environments").list_entities():
            stored_id = environment_id(keys.decode(row["PartitionKey"]), row["RowKey"])
            if stored_id == values["environmentId"]:
                return row.metadata["etag"]
        return 'W/"none"'

    read = request("GET", path)
    return read.etag if read.status == 200 else 'W/"none"'


def draw_call(data, store: Store, operations: list[Operation]):
    operation = data.draw(st.sampled_from(operations), "operation")
    records = stored_records(store)
    path, values = draw_path(data, operation, records)
    body = None
    if operation.method in ("POST", "PUT"):
        body = draw_body(data, operation, records)

    headers = data.draw(HEADERS, "headers")
    if operation.etag:
        if_match = data.draw(st.sampled_from(["current", "none", "other"]), "If-Match")
        if if_match == "current":
            # Writes that carry the record's real ETag can be accepted.
            headers["If-Match"] = current_etag(store, operation, path, values)
        elif if_match == "other":
            headers["If-Match"] = data.draw(HEADER_VALUES, "If-Match value")

    if operation.query:
        params = data.draw(QUERY, "query")
        if params:
            path += "?" + urlencode(params)

    return operation, path, body, headers


CREATES = [op for op in OPERATIONS if op.method == "POST" and op.status == 201]
READS = [op for op in OPERATIONS if op.method == "GET"]
CHANGES = [op for op in OPERATIONS if op.method in ("PUT", "DELETE") or op.etag]


@BOUNDED
@given(data=st.data())
def test_admin_creates_arbitrary_bodies(demo_admin, data):
    check_admin_call(demo_admin, *draw_call(data, demo_admin, CREATES))


@BOUNDED
@given(data=st.data())
def test_admin_reads_arbitrary_paths_and_queries(demo_admin, data):
    check_admin_call(demo_admin, *draw_call(data, demo_admin, READS))


@BOUNDED
@given(data=st.data())
def test_admin_changes_arbitrary_requests(demo_admin, data):
    check_admin_call(demo_admin, *draw_call(data, demo_admin, CHANGES))
