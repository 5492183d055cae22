"""Every class of bad validation request: a stable 4xx code and nothing stored."""

import json

import azure.functions as func
import pytest

from tests.fixtures import FABRIKAM, call, error_of, post_validate, product, request_body

SERIAL = "BAD-INPUT-0001"


def valid_body(**overrides) -> dict:
    return request_body(SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"), **overrides)


def with_product(**overrides) -> dict:
    return request_body(SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement", **overrides))


def without(name: str) -> dict:
    body = valid_body()
    del body[name]
    return body


CASES = {
    "invalid json": (b"{not json", 400, "INVALID_JSON", None),
    "invalid utf-8": (b'{"serialNumber": "\xff"}', 400, "INVALID_JSON", None),
    "nan constant": (b'{"a": NaN}', 400, "INVALID_JSON", None),
    "deep nesting": (b"[" * 30_000 + b"]" * 30_000, 400, "INVALID_JSON", None),
    "array body": ([valid_body()], 400, "INVALID_BODY", None),
    "string body": ("hello", 400, "INVALID_BODY", None),
    "null body": (None, 400, "INVALID_BODY", None),
    "missing serial": (without("serialNumber"), 400, "MISSING_FIELD", "serialNumber"),
    "missing tenant": (without("tenant"), 400, "MISSING_FIELD", "tenant"),
    "missing nonce": (without("nonce"), 400, "MISSING_FIELD", "nonce"),
    "missing products": (without("products"), 400, "MISSING_FIELD", "products"),
    "missing production flag": (
        without("isProductionEnvironment"),
        400,
        "MISSING_FIELD",
        "isProductionEnvironment",
    ),
    "null serial": (valid_body(serialNumber=None), 400, "INVALID_TYPE", "serialNumber"),
    "number serial": (valid_body(serialNumber=12345), 400, "INVALID_TYPE", "serialNumber"),
    "string production flag": (
        valid_body(isProductionEnvironment="true"),
        400,
        "INVALID_TYPE",
        "isProductionEnvironment",
    ),
    "products object": (valid_body(products={"a": 1}), 400, "INVALID_TYPE", "products"),
    "product not object": (
        valid_body(products=["RentalManagement"]),
        400,
        "INVALID_TYPE",
        "products[0]",
    ),
    "null product field": (
        with_product(modelName=None),
        400,
        "INVALID_TYPE",
        "products[0].modelName",
    ),
    "number enabled flag": (
        with_product(isEnabled=1),
        400,
        "INVALID_TYPE",
        "products[0].isEnabled",
    ),
    "missing publisher": (
        valid_body(
            products=[{k: v for k, v in product(FABRIKAM, "X").items() if k != "publisherId"}]
        ),
        400,
        "MISSING_FIELD",
        "products[0].publisherId",
    ),
    "empty serial": (valid_body(serialNumber=""), 400, "INVALID_VALUE", "serialNumber"),
    "overlong serial": (valid_body(serialNumber="S" * 65), 400, "INVALID_VALUE", "serialNumber"),
    "serial with control character": (
        valid_body(serialNumber="AB\nCD"),
        400,
        "INVALID_VALUE",
        "serialNumber",
    ),
    "serial with spaces around": (
        valid_body(serialNumber=" AB "),
        400,
        "INVALID_VALUE",
        "serialNumber",
    ),
    "tenant with slash": (valid_body(tenant="contoso.com/evil"), 400, "INVALID_VALUE", "tenant"),
    "tenant with hash": (valid_body(tenant="contoso#.com"), 400, "INVALID_VALUE", "tenant"),
    "tenant with question mark": (
        valid_body(tenant="contoso?.com"),
        400,
        "INVALID_VALUE",
        "tenant",
    ),
    "tenant with backslash": (valid_body(tenant="contoso\\.com"), 400, "INVALID_VALUE", "tenant"),
    "blank tenant": (valid_body(tenant="   "), 400, "INVALID_VALUE", "tenant"),
    "overlong tenant": (valid_body(tenant="a" * 250 + ".com"), 400, "INVALID_VALUE", "tenant"),
    "product name with slash": (
        with_product(productName="Rental/Management"),
        400,
        "INVALID_VALUE",
        "products[0].productName",
    ),
    "product name with hash": (
        with_product(productName="Rental#1"),
        400,
        "INVALID_VALUE",
        "products[0].productName",
    ),
    "product name with control character": (
        with_product(productName="Rental\x7f"),
        400,
        "INVALID_VALUE",
        "products[0].productName",
    ),
    "publisher not a guid": (
        with_product(publisherId="fabrikam/../x"),
        400,
        "INVALID_VALUE",
        "products[0].publisherId",
    ),
    "overlong model name": (
        with_product(modelName="M" * 129),
        400,
        "INVALID_VALUE",
        "products[0].modelName",
    ),
    "bad model version": (
        with_product(modelVersion="latest"),
        400,
        "INVALID_VALUE",
        "products[0].modelVersion",
    ),
    "http host url": (
        valid_body(hostUrl="http://contoso.operations.dynamics.com"),
        400,
        "INVALID_VALUE",
        "hostUrl",
    ),
    "host url without host": (valid_body(hostUrl="https://"), 400, "INVALID_VALUE", "hostUrl"),
    "host url not a url": (
        valid_body(hostUrl="contoso.operations.dynamics.com"),
        400,
        "INVALID_VALUE",
        "hostUrl",
    ),
    "host url bad port": (
        valid_body(hostUrl="https://contoso.com:99999/"),
        400,
        "INVALID_VALUE",
        "hostUrl",
    ),
    "overlong host url": (
        valid_body(hostUrl="https://c.com/" + "a" * 600),
        400,
        "INVALID_VALUE",
        "hostUrl",
    ),
    "short nonce": (valid_body(nonce="abc123"), 400, "INVALID_VALUE", "nonce"),
    "nonce of 21 characters": (valid_body(nonce="A" * 21), 400, "INVALID_VALUE", "nonce"),
    "nonce with padding": (
        valid_body(nonce="pVq4mZ7c0s3hH2xQeK9y1A=="),
        400,
        "INVALID_VALUE",
        "nonce",
    ),
    "no products": (valid_body(products=[]), 400, "INVALID_VALUE", "products"),
    "too many products": (
        valid_body(products=[product(FABRIKAM, f"P{i}") for i in range(101)]),
        400,
        "INVALID_VALUE",
        "products",
    ),
    "duplicate products": (
        valid_body(products=[product(FABRIKAM, "Rental"), product(FABRIKAM.upper(), "RENTAL")]),
        400,
        "DUPLICATE_PRODUCT",
        "products[1]",
    ),
    "body over 64 KiB": (valid_body(padding="x" * 70_000), 413, "BODY_TOO_LARGE", None),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_request_rejected_and_not_stored(store, case):
    payload, status, code, target = CASES[case]
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")

    response = post_validate(raw)

    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert error.get("target") == target
    assert error["message"]
    assert store.list_environments() == []


def test_wrong_method_rejected(store):
    response = call("validate", "GET")
    assert response.status_code == 405
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_rejected(store, content_type):
    request = func.HttpRequest(
        "POST",
        "http://localhost/api/v1/validate",
        headers={"Content-Type": content_type} if content_type else {},
        body=json.dumps(valid_body()).encode(),
    )
    from tests.fixtures import function

    response = function("validate")(request)

    assert response.status_code == 415
    assert error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert store.list_environments() == []


def test_json_with_charset_accepted(store):
    response = post_validate(valid_body(), {"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


def test_unknown_fields_ignored(store):
    response = post_validate(valid_body(clientVersion="2.1", extra={"a": [1, 2]}))
    assert response.status_code == 200


def test_declared_length_over_limit_rejected(store):
    response = post_validate(valid_body(), {"Content-Length": str(10**9)})
    assert response.status_code == 413
