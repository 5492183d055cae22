"""The reference client against the development host on loopback."""

import base64
import json
import threading
import time

import pytest

from function_app import app
from licensing import client
from licensing.__main__ import main
from licensing.devhost import make_server
from licensing.signing import generate_key
from tests.fixtures import FABRIKAM, NORTHWIND, post_validate, product, request_body

RENTAL = f"{FABRIKAM}:RentalManagement:ISVRentalManagement:10.0.43.202506241"
LABELS = f"{NORTHWIND}:WarehouseLabels:NWLabels:2.1.0.7"


@pytest.fixture
def base_url(demo):
    server = make_server(app, "127.0.0.1", 0, "api")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def run_client(base_url, serial, tenant, *products, key=None, extra=()):
    args = ["validate", "--url", base_url, "--serial", serial, "--tenant", tenant]
    for item in products:
        args += ["--product", item]
    if key is not None:
        args += ["--public-key", str(key)]
    return main([*args, *extra])


def test_client_prints_verified_decisions(base_url, key_file, capsys):
    code = run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", RENTAL, LABELS, key=key_file)
    out = capsys.readouterr().out

    assert code == 0
    assert "Signature verified." in out
    assert "RentalManagement  VALID" in out
    assert "WarehouseLabels   EXPIRED" in out


def test_client_unknown_serial_recorded(base_url, key_file, demo, capsys):
    code = run_client(base_url, "UNKNOWN-SERIAL-9", "newcustomer.com", RENTAL, key=key_file)

    assert code == 0
    assert "ENVIRONMENT_NOT_REGISTERED" in capsys.readouterr().out
    assert demo.get_environment("UNKNOWN-SERIAL-9", "newcustomer.com").registered is False


def test_client_accepts_pinned_jwks(base_url, key_file, tmp_path, capsys):
    from licensing.signing import PemFileKeySource, Signer

    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(Signer(PemFileKeySource(key_file)).jwks()))
    assert run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", RENTAL, key=jwks) == 0


def test_client_trusts_server_keys_only_when_asked(base_url, capsys):
    assert run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", RENTAL) == 2
    assert (
        run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", RENTAL, extra=["--trust-server-keys"])
        == 0
    )


def test_client_rejects_token_of_other_key(base_url, tmp_path, capsys):
    other = tmp_path / "other.pem"
    generate_key(other, 2048)

    assert run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", RENTAL, key=other) == 1
    assert "matches no pinned public key" in capsys.readouterr().err


def test_client_rejects_malformed_product(base_url, key_file, capsys):
    assert (
        run_client(base_url, "5KQ2-77XD-9WMA", "contoso.com", "RentalManagement", key=key_file) == 1
    )
    assert "PUBLISHER_ID:PRODUCT:MODEL:VERSION" in capsys.readouterr().err


# verify() on tokens made by the service


@pytest.fixture
def issued(demo, key_file):
    body = request_body("5KQ2-77XD-9WMA", "contoso.com", product(FABRIKAM, "RentalManagement"))
    token = json.loads(post_validate(body).get_body())["token"]
    keys = client.load_keys(key_file)
    return token, keys, body


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def part(token: str, index: int) -> dict:
    text = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def check(token, keys, body, now=None):
    now = time.time() if now is None else now
    return client.verify(token, keys, body["serialNumber"], body["nonce"], now)


def test_verify_accepts_service_token(issued):
    token, keys, body = issued
    assert check(token, keys, body)["products"][0]["status"] == "VALID"


def test_verify_rejects_tampered_payload(issued):
    token, keys, body = issued
    claims = part(token, 1)
    claims["products"][0]["status"] = "VALID"
    claims["products"][0]["expirationDate"] = "2099-12-31"
    header, _, signature = token.split(".")
    with pytest.raises(client.VerificationError, match="signature"):
        check(f"{header}.{b64(claims)}.{signature}", keys, body)


def test_verify_rejects_nonce_mismatch(issued):
    token, keys, body = issued
    with pytest.raises(client.VerificationError, match="nonce"):
        check(token, keys, {**body, "nonce": "A" * 22})


def test_verify_rejects_other_serial(issued):
    token, keys, body = issued
    with pytest.raises(client.VerificationError, match="sub"):
        check(token, keys, {**body, "serialNumber": "OTHER"})


def test_verify_rejects_expired_token(issued):
    token, keys, body = issued
    later = part(token, 1)["exp"] + 1
    with pytest.raises(client.VerificationError, match="expired|iat"):
        check(token, keys, body, now=later)


def test_verify_rejects_clock_skew(issued):
    token, keys, body = issued
    with pytest.raises(client.VerificationError, match="iat"):
        check(token, keys, body, now=part(token, 1)["iat"] - 3600)


def test_verify_rejects_alg_none(issued):
    token, keys, body = issued
    header = {**part(token, 0), "alg": "none"}
    with pytest.raises(client.VerificationError, match="alg"):
        check(f"{b64(header)}.{token.split('.')[1]}.", keys, body)


def test_verify_rejects_unknown_kid(issued):
    token, keys, body = issued
    header = {**part(token, 0), "kid": "someone-else"}
    with pytest.raises(client.VerificationError, match="kid"):
        check(f"{b64(header)}.{token.split('.', 1)[1]}", keys, body)


def test_verify_rejects_garbage(issued):
    _, keys, body = issued
    with pytest.raises(client.VerificationError):
        check("not-a-token", keys, body)
