"""Hostile validation requests and broken storage states.

Client input never gets a 5xx, storage failures give 503, every answered
validation is recorded, no secret reaches the log, and the claims agree with
each other.
"""

import json
import threading

import azure.functions as func
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from licensing import runtime
from licensing.models import Environment
from licensing.protocol import MAX_MODEL_NAME, MAX_MODEL_VERSION, MAX_PRODUCTS
from tests.fixtures import (
    FABRIKAM,
    call,
    error_of,
    function,
    post_validate,
    product,
    request_body,
)

# Azurite's public development account on a port where nothing listens.
STORAGE_DOWN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def claims_of(response: func.HttpResponse, key_file) -> dict:
    assert response.status_code == 200, response.get_body()
    token = json.loads(response.get_body())["token"]
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return jwt.decode(token, private.public_key(), algorithms=["RS256"])


def test_lone_surrogate_serial_rejected(store):
    # json.dumps writes the lone surrogate as the JSON escape \ud800.
    body = json.dumps(request_body("AB\ud800C", "contoso.com", product(FABRIKAM, "X"))).encode()

    response = post_validate(body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_VALUE"
    assert error_of(response)["target"] == "serialNumber"


@pytest.mark.parametrize(
    ("overrides", "target"),
    [
        ({"hostUrl": "https://contoso.example/\udc00"}, "hostUrl"),
        ({"products": [product(FABRIKAM, "X", modelName="ISV\ud800")]}, "products[0].modelName"),
    ],
)
def test_lone_surrogate_text_rejected_unstored(store, overrides, target):
    body = request_body("SURROGATE-0001", "contoso.com", product(FABRIKAM, "X"), **overrides)

    response = post_validate(json.dumps(body).encode())

    assert response.status_code == 400
    assert error_of(response)["target"] == target
    assert store.get_environment("SURROGATE-0001", "contoso.com") is None


@pytest.mark.parametrize(
    "character",
    ["\u2028", "\u202e", "\u200b", "\ufeff", "\uffff"],
    ids=["line-separator", "right-to-left-override", "zero-width-space", "bom", "noncharacter"],
)
def test_serial_with_invisible_character_rejected(store, character):
    # The README allows 1-64 printable characters, and str.isprintable() rejects each of these.
    serial = f"INVISIBLE{character}0001"

    response = post_validate(request_body(serial, "contoso.com", product(FABRIKAM, "X")))

    assert response.status_code == 400
    assert error_of(response)["target"] == "serialNumber"
    assert store.get_environment(serial, "contoso.com") is None


def test_hundred_longest_products_recorded(store, key_file):
    # Every field is at its documented maximum, and the body stays under 40 KB.
    version = ".".join(["1234567890"] * 3)[:MAX_MODEL_VERSION]
    products = [
        product(FABRIKAM, f"P{index:03d}".ljust(81, "A"), modelName="M" * MAX_MODEL_NAME)
        for index in range(MAX_PRODUCTS)
    ]
    for item in products:
        item["modelVersion"] = version

    response = post_validate(request_body("LONGEST-0001", "contoso.com", *products))

    assert response.status_code == 200, response.get_body()
    recorded = store.get_environment("LONGEST-0001", "contoso.com")
    assert recorded is not None
    assert len(recorded.reported) == MAX_PRODUCTS


def test_concurrent_validations_all_recorded(store):
    count = 32
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def validate(index: int) -> None:
        body = request_body("CONCURRENT-0001", "contoso.com", product(FABRIKAM, f"Product{index}"))
        barrier.wait()
        statuses.append(post_validate(body).status_code)

    threads = [threading.Thread(target=validate, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * count
    recorded = store.get_environment("CONCURRENT-0001", "contoso.com")
    assert len(recorded.reported) == count


def test_missing_customer_claim_matches_decisions(store, key_file):
    store.put_environment(
        Environment(
            serial_number="ORPHAN-0001",
            tenant="contoso.com",
            customer_id="00000000-0000-0000-0000-000000000000",
        )
    )

    claims = claims_of(
        post_validate(request_body("ORPHAN-0001", "contoso.com", product(FABRIKAM, "X"))),
        key_file,
    )

    assert claims["products"][0]["status"] == "ENVIRONMENT_NOT_REGISTERED"
    # The decision reports an unregistered environment, so the environment claim must agree.
    assert claims["environment"]["registered"] is False


def test_keys_served_while_storage_down(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", STORAGE_DOWN)
    runtime.reset()

    response = call("keys")

    assert response.status_code == 200
    assert len(json.loads(response.get_body())["keys"]) == 1


def test_function_key_not_logged(service_env, monkeypatch, caplog):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", STORAGE_DOWN)
    runtime.reset()
    body = request_body("LOGGED-0001", "contoso.com", product(FABRIKAM, "X"))
    request = func.HttpRequest(
        "POST",
        "http://localhost/api/v1/validate?code=function-key-value",
        headers={"Content-Type": "application/json"},
        params={"code": "function-key-value"},
        body=json.dumps(body).encode(),
    )

    with caplog.at_level("DEBUG"):
        response = function("validate")(request)

    assert response.status_code == 503
    assert "function-key-value" not in caplog.text


@pytest.mark.parametrize("name", ["health", "keys"])
def test_malformed_connection_string_answers_503(service_env, monkeypatch, name):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", "not a connection string")
    runtime.reset()

    response = call(name)

    assert response.status_code == 503


def test_malformed_connection_string_validate_503(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", "not a connection string")
    runtime.reset()

    response = post_validate(request_body("CONFIG-0001", "contoso.com", product(FABRIKAM, "X")))

    assert response.status_code == 503
    assert error_of(response)["code"] == "NOT_CONFIGURED"


def test_health_reports_missing_table_unhealthy(store):
    assert call("health").status_code == 200
    store._service.delete_table(store._prefix + "Catalog")

    response = call("health")

    assert response.status_code == 503


def test_missing_customers_table_answers_503(demo):
    body = request_body("5KQ2-77XD-9WMA", "contoso.com", product(FABRIKAM, "RentalManagement"))
    assert post_validate(body).status_code == 200
    demo._service.delete_table(demo._prefix + "Customers")

    response = post_validate(body)

    assert response.status_code == 503
    assert error_of(response)["code"] == "STORAGE_UNAVAILABLE"


def test_unicode_digit_content_length_rejected(store):
    # "²" passes str.isdigit() but int() rejects it.
    body = json.dumps(request_body("LENGTH-0001", "contoso.com", product(FABRIKAM, "X")))

    response = post_validate(body.encode(), {"Content-Length": "\u00b2"})

    assert 400 <= response.status_code < 500


def test_signer_down_creates_no_license(demo, monkeypatch, tmp_path):
    tailspin = next(c for c in demo.list_customers() if c.name == "Tailspin Toys")
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(tmp_path / "absent.pem"))
    runtime.reset()
    body = request_body("3MNB-66PO-1LKJ", "tailspintoys.com", product(FABRIKAM, "FleetTelematics"))

    response = post_validate(body)

    assert response.status_code == 503
    _, licenses = demo.get_customer(tailspin.id)
    assert f"{FABRIKAM}|fleettelematics" not in licenses
