"""Fixtures for the service: settings on a fresh set of tables, demo data, calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import azure.functions as func
import pytest

from function_app import app
from licensing import runtime
from licensing.importer import Importer, parse
from licensing.registry import functions_of
from licensing.settings import Settings
from licensing.signing import generate_key
from licensing.storage import Store

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILE = ROOT / "demo" / "demo-data.json"

FABRIKAM = "3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44"
NORTHWIND = "9c1d7e2a-5b3f-4e8d-a6c0-1f2e3d4c5b6a"
NONCE = "pVq4mZ7c0s3hH2xQeK9y1A"


@pytest.fixture(scope="session")
def key_file(tmp_path_factory) -> Path:
    """A 2048-bit signing key shared by the session (generation is slow)."""
    path = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    generate_key(path, 2048)
    return path


@pytest.fixture
def service_env(azurite, table_prefix, key_file, monkeypatch) -> Iterator[None]:
    """Point the service at empty tables of its own and a known signing key."""
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", azurite)
    monkeypatch.setenv("LICENSING_TABLE_PREFIX", table_prefix)
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("LICENSING_ISSUER", "https://licensing.test")
    # Tests validate one serial many times; tests/test_limits.py turns the limits on.
    monkeypatch.setenv("LICENSING_RATE_LIMIT_SERIAL_PER_HOUR", "0")
    monkeypatch.setenv("LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE", "0")
    for name in ("LICENSING_TABLES_ENDPOINT", "LICENSING_TIME_ZONE", "LICENSING_KEY_VAULT_URL"):
        monkeypatch.delenv(name, raising=False)
    # Without it, validation telemetry is written to the log and never leaves the machine.
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def store(service_env) -> Store:
    store = Store.from_settings(Settings.from_env())
    store.ensure_tables()
    return store


@pytest.fixture
def demo(store) -> Store:
    """The store holding the demo data."""
    Importer(store).run(parse(json.loads(DEMO_FILE.read_text())))
    return store


@pytest.fixture
def clock(monkeypatch):
    """Set the service's clock: ``clock(datetime)``."""

    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(runtime, "now", lambda: moment)

    return set_now


REGISTERED = {f.get_function_name(): f for f in functions_of(app)}


def function(name: str):
    return REGISTERED[name].get_user_function()


def call(name: str, method: str = "GET", body: bytes = b"", headers: dict | None = None):
    request = func.HttpRequest(
        method, f"http://localhost/api/v1/{name}", headers=headers or {}, body=body
    )
    return function(name)(request)


def post_validate(payload, headers: dict | None = None) -> func.HttpResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    return call("validate", "POST", body, {"Content-Type": "application/json", **(headers or {})})


def product(publisher_id: str, name: str, **overrides) -> dict:
    return {
        "publisherId": publisher_id,
        "productName": name,
        "modelName": "ISV" + name,
        "modelVersion": "10.0.43.202506241",
        "isEnabled": True,
        "isInstalled": True,
        **overrides,
    }


def request_body(serial_number: str, tenant_name: str, *products: dict, **overrides) -> dict:
    return {
        "serialNumber": serial_number,
        "tenant": tenant_name,
        "hostUrl": "https://contoso-prod.operations.dynamics.com",
        "isProductionEnvironment": True,
        "nonce": NONCE,
        "products": list(products),
        **overrides,
    }


def error_of(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())["error"]
