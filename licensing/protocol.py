"""Parsing of the validation request (protocol v1).

Every field is checked for presence, type, length and syntax before anything
is read from or written to storage. Unknown fields are ignored, so that newer
clients keep working. Each error names the offending field as its target,
in JSON path form such as ``products[2].productName``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import keys
from .errors import InvalidInput

MAX_PRODUCTS = 100
MAX_SERIAL = 64
MAX_HOST_URL = 512
MAX_MODEL_NAME = 128
MAX_MODEL_VERSION = 32

# A nonce of base64url characters. 22 of them carry 132 bits, the least
# length that reaches 128 bits of randomness.
NONCE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")

# FinOps model versions: up to four dot-separated numbers, like 10.0.43.202506241.
MODEL_VERSION = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,10}){0,3}$")


@dataclass(frozen=True)
class RequestedProduct:
    publisher_id: str
    product_name: str
    model_name: str
    model_version: str
    is_enabled: bool
    is_installed: bool


@dataclass(frozen=True)
class ValidationRequest:
    serial_number: str
    tenant: str
    host_url: str
    is_production: bool
    nonce: str
    products: tuple[RequestedProduct, ...]


def parse_validation_request(body: Any) -> ValidationRequest:
    """Parse a decoded JSON body; raises InvalidInput naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", code="INVALID_BODY")

    fields = _Fields(body, "")
    products = _products(fields.require("products", list))
    return ValidationRequest(
        serial_number=_serial(fields),
        tenant=_tenant(fields),
        host_url=_host_url(fields),
        is_production=fields.require("isProductionEnvironment", bool),
        nonce=fields.text("nonce", NONCE, "22 to 128 base64url characters"),
        products=products,
    )


class _Fields:
    """Typed access to one JSON object, reporting errors by path."""

    def __init__(self, body: dict, path: str) -> None:
        self.body = body
        self.path = path

    def target(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def require(self, name: str, kind: type) -> Any:
        if name not in self.body:
            raise InvalidInput(f"{name} is missing.", self.target(name), "MISSING_FIELD")

        value = self.body[name]
        # bool is a subclass of int; neither is accepted for the other.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            expected = {bool: "a boolean", str: "a string", list: "an array"}[kind]
            raise InvalidInput(f"{name} must be {expected}.", self.target(name), "INVALID_TYPE")

        return value

    def text(self, name: str, pattern: re.Pattern | None, rule: str, max_length: int = 0) -> str:
        value = self.require(name, str)
        too_long = max_length and len(value) > max_length
        if not value or too_long or not keys.printable(value):
            raise self.invalid(name, rule)
        if pattern is not None and not pattern.fullmatch(value):
            raise self.invalid(name, rule)

        return value

    def invalid(self, name: str, rule: str) -> InvalidInput:
        return InvalidInput(
            f"{name} is invalid: expected {rule}.", self.target(name), "INVALID_VALUE"
        )


def _serial(fields: _Fields) -> str:
    # Any printable serial is accepted; key characters are encoded in storage.
    rule = f"1 to {MAX_SERIAL} printable characters"
    value = fields.text("serialNumber", None, rule, MAX_SERIAL)
    if value != value.strip():
        raise fields.invalid("serialNumber", rule + " without surrounding spaces")

    return value


def _tenant(fields: _Fields) -> str:
    value = fields.text("tenant", keys.DOMAIN, "a domain name such as contoso.com")
    return value.lower()


def _host_url(fields: _Fields) -> str:
    rule = f"an https URL of at most {MAX_HOST_URL} characters, without user name or password"
    value = fields.text("hostUrl", None, rule, MAX_HOST_URL)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port outside 0-65535
    except ValueError:
        raise fields.invalid("hostUrl", rule) from None

    has_credentials = parts.username is not None or parts.password is not None
    if parts.scheme.lower() != "https" or not host or " " in value or has_credentials:
        raise fields.invalid("hostUrl", rule)

    return value


def _products(items: list) -> tuple[RequestedProduct, ...]:
    if not 1 <= len(items) <= MAX_PRODUCTS:
        raise InvalidInput(
            f"products must list 1 to {MAX_PRODUCTS} products; it has {len(items)}.",
            "products",
            "INVALID_VALUE",
        )

    parsed = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"products[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{path} must be an object.", path, "INVALID_TYPE")

        product = _product(_Fields(item, path))
        key = keys.product_key(product.publisher_id, product.product_name)
        if key in seen:
            raise InvalidInput(
                f"{path} repeats product {product.product_name} of publisher "
                f"{product.publisher_id}.",
                path,
                "DUPLICATE_PRODUCT",
            )

        seen.add(key)
        parsed.append(product)

    return tuple(parsed)


def _product(fields: _Fields) -> RequestedProduct:
    return RequestedProduct(
        publisher_id=fields.text("publisherId", keys.GUID, "a GUID").lower(),
        product_name=fields.text(
            "productName", keys.IDENTIFIER, "an X++ identifier of at most 81 characters"
        ),
        model_name=fields.text(
            "modelName", None, f"1 to {MAX_MODEL_NAME} printable characters", MAX_MODEL_NAME
        ),
        model_version=fields.text(
            "modelVersion", MODEL_VERSION, "up to four dot-separated numbers", MAX_MODEL_VERSION
        ),
        is_enabled=fields.require("isEnabled", bool),
        is_installed=fields.require("isInstalled", bool),
    )
