"""The OpenAPI 2.0 definition of the whole API, built from the code.

Paths come from the admin OPERATIONS list and the validation endpoints;
record schemas come from the dataclasses in licensing/models.py, so a field
added to a record appears in the definition. Power Platform custom
connectors accept OpenAPI 2.0 only, and read ``x-ms-summary`` (labels) and
``x-ms-visibility`` (``advanced`` hides a field behind "more").
"""

from __future__ import annotations

import copy
import dataclasses
import re
import typing
from datetime import date, datetime

from .admin.audit import ACTIONS
from .admin.reports import WINDOWS
from .api.admin import OPERATIONS, Operation
from .decisions import Status
from .models import (
    LICENSE_TYPES,
    Customer,
    Environment,
    License,
    Product,
    Publisher,
    ReportedProduct,
)

TITLE = "FinOps License Service"
VERSION = "1.0"

# Labels that differ from the words of the field name.
LABELS = {
    "id": "ID",
    "publisherId": "Publisher ID",
    "customerId": "Customer ID",
    "etag": "ETag",
    "wbs": "WBS",
    "termsUrl": "Terms URL",
    "userGuideUrl": "User guide URL",
    "releaseNotesUrl": "Release notes URL",
    "hostUrl": "Host URL",
    "isProduction": "Production",
    "isEnabled": "Enabled",
    "isInstalled": "Installed",
}

# Fields shown under "advanced" in Power Apps forms.
ADVANCED = {
    "etag", "wbs", "invoicedAs", "notes", "agreementStartDate", "createdBy",
    "releaseNotesUrl", "userGuideUrl", "termsUrl", "region", "description",
    "firstSeen", "hostUrl",
}  # fmt: skip


def label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]

    words = re.sub(r"([A-Z])", r" \1", name).split()
    return " ".join([words[0].capitalize(), *(w.lower() for w in words[1:])])


def prop(name: str, kind: str, fmt: str | None = None, **extra) -> dict:
    schema = {"type": kind, "x-ms-summary": label(name)}
    if fmt:
        schema["format"] = fmt
    if name in ADVANCED:
        schema["x-ms-visibility"] = "advanced"
    schema.update(extra)
    return schema


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def record_schema(cls: type, skip: set[str] = frozenset(), **extra: dict) -> dict:
    """Describe a record the way licensing/admin/views.py renders it."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for item in dataclasses.fields(cls):
        if item.name in skip or item.name in ("etag", "reported"):
            continue
        name = _camel(item.name)
        hint = hints[item.name]
        args = set(typing.get_args(hint)) or {hint}
        if datetime in args:
            properties[name] = prop(name, "string", "date-time")
        elif date in args:
            properties[name] = prop(name, "string", "date")
        elif bool in args:
            properties[name] = prop(name, "boolean")
        elif int in args:
            properties[name] = prop(name, "integer", "int32")
        else:
            properties[name] = prop(name, "string")

    properties.update(extra)
    properties["etag"] = prop("etag", "string", readOnly=True)
    return {"type": "object", "properties": properties}


def _list(item: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/definitions/{item}"}},
            "nextLink": {
                "type": "string",
                "x-ms-summary": "Next link",
                "x-ms-visibility": "internal",
            },
        },
    }


def definitions() -> dict:
    publisher = record_schema(Publisher)
    publisher["required"] = ["id", "name"]
    product = record_schema(Product)
    product["required"] = ["publisherId", "name"]
    customer = record_schema(Customer)
    customer["properties"]["id"]["readOnly"] = True
    customer["required"] = ["name"]
    license = record_schema(
        License,
        skip={"customer_id"},
        customerId=prop("customerId", "string", readOnly=True),
        active=prop("active", "boolean", readOnly=True),
    )
    license["properties"]["licenseType"]["enum"] = list(LICENSE_TYPES)
    license["properties"]["createdBy"]["readOnly"] = True
    license["required"] = ["publisherId", "productName", "licenseType"]
    environment = record_schema(
        Environment,
        id=prop("id", "string", readOnly=True),
        registered=prop("registered", "boolean", readOnly=True),
    )
    environment["required"] = ["serialNumber", "tenant"]
    for name in ("customerId", "hostUrl", "isProduction", "firstSeen", "lastSeen"):
        environment["properties"][name]["readOnly"] = True
    installed = record_schema(ReportedProduct)
    del installed["properties"]["etag"]

    schemas = {
        "Publisher": publisher,
        "Product": product,
        "Customer": customer,
        "CustomerProduct": license,
        "Environment": environment,
        "InstalledProduct": installed,
        "Assignment": {
            "type": "object",
            "required": ["customerId"],
            "properties": {"customerId": prop("customerId", "string")},
        },
        "ExpiryItem": _expiry_item(),
        "ExpiryReport": {
            "type": "object",
            "properties": {
                "window": prop("window", "string", enum=list(WINDOWS)),
                "from": prop("from", "string", "date"),
                "to": prop("to", "string", "date"),
                "includeOverdue": prop("includeOverdue", "boolean"),
                "truncated": prop("truncated", "boolean"),
                "items": {"type": "array", "items": {"$ref": "#/definitions/ExpiryItem"}},
            },
        },
        "AuditEntry": {
            "type": "object",
            "properties": {
                "id": prop("id", "string"),
                "at": prop("at", "string", "date-time"),
                "action": prop("action", "string", enum=list(ACTIONS)),
                "entityType": prop("entityType", "string"),
                "entityId": prop("entityId", "string"),
                "authorId": prop("authorId", "string"),
                "authorName": prop("authorName", "string"),
                "state": prop(
                    "state",
                    "string",
                    enum=["done", "pending"],
                    description="pending: storage failed while the change was made, "
                    "so it may not have happened",
                ),
                "before": {
                    "type": "object",
                    "x-ms-summary": "Before",
                    "additionalProperties": True,
                },
                "after": {"type": "object", "x-ms-summary": "After", "additionalProperties": True},
            },
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": prop("code", "string"),
                        "message": prop("message", "string"),
                        "target": prop("target", "string"),
                        "requestId": prop("requestId", "string"),
                    },
                }
            },
        },
        **_validation_definitions(),
    }
    for name in ("Publisher", "Product", "Customer", "CustomerProduct", "Environment",
                 "InstalledProduct", "AuditEntry"):  # fmt: skip
        schemas[f"{name}List"] = _list(name)
    # Update bodies: the URL names the record, so no field is required there.
    for name in ("Publisher", "Product", "Customer", "CustomerProduct", "Environment"):
        update = {key: value for key, value in schemas[name].items() if key != "required"}
        schemas[f"{name}Update"] = copy.deepcopy(update)
    for schema in schemas.values():
        _label_properties(schema)
    return schemas


def _label_properties(schema: dict) -> None:
    """Give every property, nested ones too, an x-ms-summary label."""
    for name, item in schema.get("properties", {}).items():
        if "$ref" not in item:
            item.setdefault("x-ms-summary", label(name))
        _label_properties(item)


def _expiry_item() -> dict:
    properties = {
        name: prop(name, "string")
        for name in ("customerId", "customerName", "customerNumber", "publisherId", "productName")
    }
    properties.update(
        licenseType=prop("licenseType", "string", enum=list(LICENSE_TYPES)),
        enabled=prop("enabled", "boolean"),
        expirationDate=prop("expirationDate", "string", "date"),
        featureDisableDate=prop("featureDisableDate", "string", "date"),
        daysUntilExpiration=prop("daysUntilExpiration", "integer", "int32"),
        overdue=prop("overdue", "boolean"),
    )
    return {"type": "object", "properties": properties}


def _validation_definitions() -> dict:
    requested = {
        "type": "object",
        "required": [
            "publisherId",
            "productName",
            "modelName",
            "modelVersion",
            "isEnabled",
            "isInstalled",
        ],
        "properties": {
            "publisherId": prop("publisherId", "string", "uuid"),
            "productName": prop("productName", "string", maxLength=81),
            "modelName": prop("modelName", "string", maxLength=128),
            "modelVersion": prop("modelVersion", "string", maxLength=32),
            "isEnabled": prop("isEnabled", "boolean"),
            "isInstalled": prop("isInstalled", "boolean"),
        },
    }
    request = {
        "type": "object",
        "required": [
            "serialNumber",
            "tenant",
            "hostUrl",
            "isProductionEnvironment",
            "nonce",
            "products",
        ],
        "properties": {
            "serialNumber": prop("serialNumber", "string", maxLength=64),
            "tenant": prop("tenant", "string", maxLength=253),
            "hostUrl": prop("hostUrl", "string", maxLength=512),
            "isProductionEnvironment": prop("isProductionEnvironment", "boolean"),
            "nonce": prop("nonce", "string", minLength=22, maxLength=128),
            "products": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {"$ref": "#/definitions/RequestedProduct"},
            },
        },
    }
    key = {
        "type": "object",
        "properties": {
            name: prop(name, "string") for name in ("kty", "n", "e", "kid", "alg", "use")
        },
    }
    return {
        "RequestedProduct": requested,
        "ValidationRequest": request,
        "ValidationResponse": {
            "type": "object",
            "properties": {
                "token": prop(
                    "token",
                    "string",
                    description="Compact JWS (RS256); its products claim contains one status "
                    f"per product: {', '.join(s.value for s in Status)}.",
                )
            },
        },
        "JsonWebKey": key,
        "JsonWebKeySet": {
            "type": "object",
            "properties": {
                "keys": {"type": "array", "items": {"$ref": "#/definitions/JsonWebKey"}}
            },
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": prop("status", "string", enum=["healthy", "unhealthy"]),
                "checks": {
                    "type": "object",
                    "properties": {
                        "storage": prop("storage", "string", enum=["ok", "unavailable"]),
                        "signer": prop("signer", "string", enum=["ok", "unavailable"]),
                    },
                },
            },
        },
    }


ERRORS = {
    "400": "Invalid input",
    "401": "Missing or invalid token",
    "403": "Missing app role",
    "404": "Not found",
    "409": "Conflict with existing data",
    "412": "The ETag in If-Match is stale",
    "428": "If-Match is missing",
    "503": "A dependency is unavailable; retry after Retry-After seconds",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/definitions/{name}"}


def _responses(status: int, schema: str | None, codes: tuple[str, ...]) -> dict:
    success: dict = {"description": "Success"}
    if schema:
        success["schema"] = _ref(schema)
    # Single records carry their ETag; lists carry one per item instead.
    single = schema and not schema.endswith("List") and schema != "ExpiryReport"
    if single:
        success["headers"] = {"ETag": {"type": "string", "description": "Version of the record"}}
    responses = {str(status): success}
    for code in codes:
        responses[code] = {"description": ERRORS[code], "schema": _ref("Error")}
    return responses


def _parameters(operation: Operation) -> list[dict]:
    parameters = []
    for name in re.findall(r"{(\w+)}", operation.route):
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "type": "string",
                "x-ms-summary": label(name),
            }
        )
    for item in operation.query:
        parameter = {"name": item.name, "in": "query", "required": False, "type": item.kind,
                     "x-ms-summary": item.summary}  # fmt: skip
        if item.kind == "integer":
            parameter["format"] = "int32"
        if item.enum:
            parameter["enum"] = list(item.enum)
        if item.advanced:
            parameter["x-ms-visibility"] = "advanced"
        parameters.append(parameter)
    if operation.etag:
        parameters.append(
            {"name": "If-Match", "in": "header", "required": True, "type": "string",
             "x-ms-summary": "ETag", "description": "The etag of the record as last read"}
        )  # fmt: skip
    if operation.request:
        parameters.append(
            {"name": "body", "in": "body", "required": True, "schema": _ref(operation.request),
             "x-ms-summary": label(operation.request)}
        )  # fmt: skip
    return parameters


def _admin_path(operation: Operation) -> dict:
    codes = ["401", "403", "503"]
    if operation.request or operation.query:
        codes.insert(0, "400")
    if "{" in operation.route:
        codes.append("404")
    if operation.method in ("POST", "PUT", "DELETE"):
        codes.append("409")
    if operation.etag:
        codes += ["412", "428"]
    return {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "description": operation.summary + ".",
        "tags": [operation.route.split("/")[1]],
        "parameters": _parameters(operation),
        "responses": _responses(operation.status, operation.response, tuple(sorted(codes))),
        "security": [{"oauth2": []}],
        **_pageable(operation),
    }


def _pageable(operation: Operation) -> dict:
    if any(item.name == "pageToken" for item in operation.query):
        return {"x-ms-pageable": {"nextLinkName": "nextLink"}}
    return {}


def _validation_paths() -> dict:
    validate = {
        "operationId": "ValidateLicenses",
        "summary": "Validate licenses",
        "description": "Answer a FinOps environment with signed license decisions.",
        "tags": ["validate"],
        "parameters": [
            {"name": "body", "in": "body", "required": True, "schema": _ref("ValidationRequest"),
             "x-ms-summary": "Validation request"}
        ],
        "responses": _responses(200, "ValidationResponse", ("400", "401", "403", "503")),
        "security": [{"functionKey": []}],
        "x-ms-visibility": "internal",
    }  # fmt: skip
    del validate["responses"]["200"]["headers"]
    anonymous = {"security": [], "x-ms-visibility": "internal", "tags": ["service"]}
    keys = {"operationId": "GetSigningKeys", "summary": "Get the signing keys",
            "description": "JWKS of the keys that verify current tokens.", "parameters": [],
            "responses": {"200": {"description": "Success", "schema": _ref("JsonWebKeySet")}},
            **anonymous}  # fmt: skip
    health = {"operationId": "GetHealth", "summary": "Get service health",
              "description": "Storage and signing key readiness.", "parameters": [],
              "responses": {"200": {"description": "Healthy", "schema": _ref("Health")},
                            "503": {"description": "Unhealthy", "schema": _ref("Health")}},
              **anonymous}  # fmt: skip
    document = {"operationId": "GetApiDefinition", "summary": "Get the API definition",
                "description": "This OpenAPI 2.0 document.", "parameters": [],
                "responses": {"200": {"description": "Success", "schema": {"type": "object"}}},
                **anonymous}  # fmt: skip
    return {
        "/v1/validate": {"post": validate},
        "/v1/keys": {"get": keys},
        "/v1/health": {"get": health},
        "/v1/openapi.json": {"get": document},
    }


def build(host: str = "localhost:7071", scheme: str = "https") -> dict:
    """Return the whole definition; ``host`` is where the connector sends calls."""
    paths: dict = _validation_paths()
    for operation in OPERATIONS:
        paths.setdefault("/" + operation.route, {})[operation.method.lower()] = _admin_path(
            operation
        )

    return {
        "swagger": "2.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Manage ISV products, customers, licenses and environments, "
            "and validate the licenses of FinOps environments.",
        },
        "host": host,
        "basePath": "/api",
        "schemes": [scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions(),
        "securityDefinitions": {
            "oauth2": {
                "type": "oauth2",
                "flow": "accessCode",
                "authorizationUrl": "https://login.microsoftonline.com/common/oauth2/authorize",
                "tokenUrl": "https://login.microsoftonline.com/common/oauth2/token",
                "scopes": {},
            },
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
        },
    }
