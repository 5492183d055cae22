"""The admin API for the Power Apps custom connector, one function per operation.

OPERATIONS is the single list of admin operations: the functions below are
registered from it, and licensing/openapi.py describes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import azure.functions as func

from .. import auth, http, keys, runtime
from ..admin import audit, environments, reports, rows
from ..admin.resources import CUSTOMERS, ENVIRONMENTS, LICENSES, PRODUCTS, PUBLISHERS, Resource
from ..admin.service import AdminService, Item
from ..decisions import local_date
from ..errors import InvalidInput, PreconditionRequired

bp = func.Blueprint()


@dataclass(frozen=True)
class Call:
    """One admin request, parsed and authorized."""

    req: func.HttpRequest
    caller: auth.Caller
    service: AdminService

    @property
    def path(self) -> dict:
        return dict(self.req.route_params)

    @property
    def author(self) -> audit.Author:
        return audit.Author(self.caller.object_id, self.caller.name)


@dataclass(frozen=True)
class Parameter:
    name: str
    summary: str
    kind: str = "string"
    enum: tuple[str, ...] = ()
    advanced: bool = False


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    route: str
    role: str
    summary: str
    run: Callable[[Call], func.HttpResponse]
    request: str | None = None
    response: str | None = None
    status: int = 200
    query: tuple[Parameter, ...] = field(default=())
    etag: bool = False

    @property
    def function_name(self) -> str:
        return self.operation_id[0].lower() + self.operation_id[1:]


def service() -> AdminService:
    services = runtime.services()
    zone = services.settings.time_zone
    return AdminService(services.store, runtime.now, lambda: local_date(runtime.now(), zone))


def _item(item: Item, status: int = 200) -> func.HttpResponse:
    return http.json_response(item.body, status, {"ETag": item.etag})


def _if_match(req: func.HttpRequest) -> str:
    etag = (req.headers.get("If-Match") or "").strip()
    if not etag or etag == "*":
        raise PreconditionRequired(
            "Send the record's ETag in If-Match: read the record first.", "If-Match"
        )

    return etag


def _body(req: func.HttpRequest) -> dict:
    body = http.read_json(req)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", code="INVALID_BODY")

    return body


def _top(req: func.HttpRequest) -> int:
    raw = req.params.get("top", "")
    if not raw:
        return rows.DEFAULT_TOP
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= rows.MAX_TOP:
        raise InvalidInput(f"top must be a whole number from 1 to {rows.MAX_TOP}.", "top")

    return int(raw)


def _next_link(req: func.HttpRequest, token: str | None) -> str | None:
    if token is None:
        return None

    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("pageToken", "code")]
    query.append(("pageToken", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _list_body(req: func.HttpRequest, items: list, token: str | None) -> func.HttpResponse:
    body: dict = {"items": items}
    link = _next_link(req, token)
    if link:
        body["nextLink"] = link
    return http.json_response(body)


# Generic handlers


def listing(resource: Resource) -> Callable[[Call], func.HttpResponse]:
    def run(call: Call) -> func.HttpResponse:
        query = dict(call.req.params)
        page = call.service.list(resource, call.path, query, _top(call.req), query.get("pageToken"))
        return _list_body(call.req, page.items, page.next_token)

    return run


def reading(resource: Resource) -> Callable[[Call], func.HttpResponse]:
    return lambda call: _item(call.service.get(resource, call.path))


def creating(resource: Resource) -> Callable[[Call], func.HttpResponse]:
    def run(call: Call) -> func.HttpResponse:
        item = call.service.create(resource, call.path, _body(call.req), call.author)
        return _item(item, 201)

    return run


def updating(resource: Resource) -> Callable[[Call], func.HttpResponse]:
    def run(call: Call) -> func.HttpResponse:
        etag = _if_match(call.req)
        item = call.service.update(resource, call.path, _body(call.req), etag, call.author)
        return _item(item)

    return run


def deleting(resource: Resource) -> Callable[[Call], func.HttpResponse]:
    def run(call: Call) -> func.HttpResponse:
        call.service.delete(resource, call.path, _if_match(call.req), call.author)
        return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})

    return run


# Special operations


def _assign(call: Call) -> func.HttpResponse:
    etag = _if_match(call.req)
    body = _body(call.req)
    customer_id = body.get("customerId")
    if customer_id is None or customer_id == "":
        raise InvalidInput("customerId is missing.", "customerId", "MISSING_FIELD")
    if not isinstance(customer_id, str) or not keys.GUID.fullmatch(customer_id):
        raise InvalidInput(
            "customerId must be a customer id (a GUID).", "customerId", "INVALID_VALUE"
        )

    environment_id = call.path["environmentId"]
    item = environments.assign(call.service, environment_id, customer_id, etag, call.author)
    return _item(item)


def _dismiss(call: Call) -> func.HttpResponse:
    environments.dismiss(call.service, call.path["environmentId"], _if_match(call.req), call.author)
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


def _installed(call: Call) -> func.HttpResponse:
    items = environments.installed_products(call.service, call.path["environmentId"])
    return http.json_response({"items": items})


def _unregistered(call: Call) -> func.HttpResponse:
    query = dict(call.req.params)
    path = {"customerId": ""}
    page = call.service.list(ENVIRONMENTS, path, query, _top(call.req), query.get("pageToken"))
    return _list_body(call.req, page.items, page.next_token)


def _expiry(call: Call) -> func.HttpResponse:
    window = call.req.params.get("window", "thisMonth")
    overdue = call.req.params.get("includeOverdue", "false").lower()
    if overdue not in ("true", "false"):
        raise InvalidInput("includeOverdue must be true or false.", "includeOverdue")

    body = reports.expiring(call.service.store, window, overdue == "true", call.service.today())
    return http.json_response(body)


def _audit_log(call: Call) -> func.HttpResponse:
    query = dict(call.req.params)
    clauses, parameters = ["PartitionKey eq @pk"], {"pk": audit.PARTITION}
    if query.get("entityType"):
        clauses.append("entity_type eq @type")
        parameters["type"] = query["entityType"]
    if query.get("entityId"):
        clauses.append("entity_id eq @id")
        parameters["id"] = query["entityId"]

    table = call.service.store.table("Audit")
    page = rows.page(
        table, " and ".join(clauses), parameters, _top(call.req), query.get("pageToken")
    )
    return _list_body(call.req, [audit.view(row) for row in page.rows], page.next_token)


PAGING = (
    Parameter("top", "Page size", "integer", advanced=True),
    Parameter("pageToken", "Page token", advanced=True),
)
CUSTOMER = "v1/customers/{customerId}"
ENVIRONMENT = "v1/environments/{environmentId}"


def _crud(plural: str, singular: str, resource: Resource, collection: str, item: str, query=()):
    """Build the five operations of a resource; ``plural`` and ``singular`` are in words."""
    noun = singular.lower()
    article = "an" if noun[0] in "aeiou" else "a"
    identifier = singular.title().replace(" ", "")
    many = plural.title().replace(" ", "")
    return [
        Operation(f"List{many}", "GET", collection, auth.READ, f"List {plural.lower()}",
                  listing(resource), response=f"{identifier}List", query=(*query, *PAGING)),
        Operation(f"Create{identifier}", "POST", collection, auth.WRITE, f"Create {article} {noun}",
                  creating(resource), request=identifier, response=identifier, status=201),
        Operation(f"Get{identifier}", "GET", item, auth.READ, f"Get {article} {noun}",
                  reading(resource), response=identifier),
        Operation(f"Update{identifier}", "PUT", item, auth.WRITE, f"Update {article} {noun}",
                  updating(resource), request=f"{identifier}Update", response=identifier,
                  etag=True),
        Operation(f"Delete{identifier}", "DELETE", item, auth.ADMIN, f"Delete {article} {noun}",
                  deleting(resource), status=204, etag=True),
    ]  # fmt: skip


OPERATIONS: list[Operation] = [
    *_crud("Publishers", "Publisher", PUBLISHERS, "v1/publishers", "v1/publishers/{publisherId}"),
    *_crud(
        "Products", "Product", PRODUCTS, "v1/products", "v1/products/{publisherId}/{productName}",
        query=(Parameter("publisherId", "Publisher ID"),),
    ),
    *_crud(
        "Customers", "Customer", CUSTOMERS, "v1/customers", CUSTOMER,
        query=(
            Parameter("name", "Name starts with"),
            Parameter("customerNumber", "Customer number"),
        ),
    ),
    *_crud(
        "Customer products", "Customer product", LICENSES, f"{CUSTOMER}/products",
        f"{CUSTOMER}/products/{{publisherId}}/{{productName}}",
    ),
    *_crud(
        "Customer environments", "Environment", ENVIRONMENTS, f"{CUSTOMER}/environments",
        f"{CUSTOMER}/environments/{{environmentId}}",
        query=(Parameter("serialNumber", "Serial number"),),
    ),
    Operation(
        "ListUnregisteredEnvironments", "GET", "v1/unregistered-environments", auth.READ,
        "List unregistered environments", _unregistered, response="EnvironmentList",
        query=(Parameter("serialNumber", "Serial number"), *PAGING),
    ),
    Operation(
        "AssignEnvironment", "POST", "v1/unregistered-environments/{environmentId}/assign",
        auth.WRITE, "Assign an unregistered environment to a customer", _assign,
        request="Assignment", response="Environment", etag=True,
    ),
    Operation(
        "DismissEnvironment", "DELETE", "v1/unregistered-environments/{environmentId}",
        auth.ADMIN, "Dismiss an unregistered environment", _dismiss, status=204, etag=True,
    ),
    Operation(
        "ListInstalledProducts", "GET", f"{ENVIRONMENT}/installed-products", auth.READ,
        "List the products an environment last reported", _installed,
        response="InstalledProductList",
    ),
    Operation(
        "GetExpiryReport", "GET", "v1/reports/license-expiry", auth.READ,
        "List licenses expiring soon", _expiry, response="ExpiryReport",
        query=(
            Parameter("window", "Window", enum=reports.WINDOWS),
            Parameter("includeOverdue", "Include overdue", "boolean"),
        ),
    ),
    Operation(
        "ListAuditEntries", "GET", "v1/audit", auth.ADMIN, "List audit log entries",
        _audit_log, response="AuditEntryList",
        query=(
            Parameter("entityType", "Entity type", advanced=True),
            Parameter("entityId", "Entity ID", advanced=True),
            *PAGING,
        ),
    ),
]  # fmt: skip


def _register(operation: Operation) -> None:
    def function(req: func.HttpRequest) -> func.HttpResponse:
        def run(req: func.HttpRequest) -> func.HttpResponse:
            http.require_method(req, operation.method)
            caller = auth.authorize(req, operation.role)
            return operation.run(Call(req, caller, service()))

        return http.handle(req, run)

    function.__name__ = function.__qualname__ = operation.function_name
    function.__doc__ = operation.summary
    bp.route(
        route=operation.route,
        methods=[operation.method],
        auth_level=func.AuthLevel.ANONYMOUS,
    )(function)


for _operation in OPERATIONS:
    _register(_operation)
