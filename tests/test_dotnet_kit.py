"""The .NET verification kit: the committed test vectors, and the C# verifier run on Mono.

The C# verifier is compiled with Mono's mcs against the .NET Framework 4.x
profile and run with mono, on the vectors and on tokens from the service.
Without Mono the Mono tests fail when CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from licensing.client import VerificationError, keys_from_jwks, verify
from licensing.importer import Importer, parse
from licensing.signing import public_jwk, rsa_key_value_xml, thumbprint
from tests.fixtures import ROOT, post_validate, product, request_body

KIT_SOURCE = ROOT / "clients" / "dotnet" / "LicenseTokenVerifier.cs"
VECTOR_DIR = ROOT / "clients" / "testvectors"
VECTOR_FILES = sorted(VECTOR_DIR.glob("rsa-*.json"))

# What the Python reference client says for each failure reason of the vectors.
CLIENT_MESSAGES = {
    "MALFORMED_TOKEN": r"three parts|base64url",
    "UNSUPPORTED_ALGORITHM": r"^alg ",
    "UNKNOWN_KID": r"^kid .* matches no pinned public key",
    "INVALID_SIGNATURE": r"signature does not verify",
    "SUBJECT_MISMATCH": r"^sub ",
    "NONCE_MISMATCH": r"^nonce ",
    "ISSUED_AT_SKEW": r"^iat ",
    "EXPIRED": r"expired",
}

CUSTOMER_NAME = 'Société Générale <Ops> & "Fils" – 株式会社'
PUBLISHER_NAME = "Fabrikam <Software> & Co. ÆØÅ"
PUBLISHER_ID = "3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44"
SERIAL = "8UNI-C0DE-4XML"
NONCE = "pVq4mZ7c0s3hH2xQeK9y1A"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


VECTOR_CASES = [
    pytest.param(path, case, id=f"{path.stem}-{case['name']}")
    for path in VECTOR_FILES
    for case in load(path)["cases"]
]


# The vectors, checked in Python.


def test_vectors_cover_2048_and_4096_bit_keys():
    assert sorted(load(path)["keyBits"] for path in VECTOR_FILES) == [2048, 4096]


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_key_formats_describe_one_key(path):
    vectors = load(path)
    published = vectors["publicKey"]
    from_pem = serialization.load_pem_public_key(published["pem"].encode("ascii"))
    from_jwk = next(iter(keys_from_jwks({"keys": [published["jwk"]]}).values()))

    assert from_pem.key_size == vectors["keyBits"]
    assert from_jwk.public_numbers() == from_pem.public_numbers()
    assert published["rsaKeyValue"] == rsa_key_value_xml(from_pem)
    assert published["kid"] == thumbprint(published["jwk"]) == public_jwk(from_pem)["kid"]


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vectors_hold_non_ascii_and_html_names(path):
    valid = next(case for case in load(path)["cases"] if case["name"] == "valid")
    claims = valid["expected"]["claims"]
    names = [claims["environment"]["customerName"]]
    names += [p["productName"] for p in claims["products"]]
    names += [p["publisherName"] for p in claims["products"] if "publisherName" in p]

    for text in (names[0], names[1], names[-1]):
        assert not text.isascii()
        assert re.search(r"[<>&]", text)


@pytest.mark.parametrize(("path", "case"), VECTOR_CASES)
def test_vector_verifies_as_stated_with_python_client(path, case):
    vectors = load(path)
    keys = keys_from_jwks({"keys": [vectors["publicKey"]["jwk"]]})
    arguments = (case["token"], keys, case["serialNumber"], case["nonce"], vectors["now"])
    expected = case["expected"]

    if expected["valid"]:
        claims = verify(*arguments, max_skew=vectors["maxSkewSeconds"])
        assert claims == expected["claims"]
    else:
        with pytest.raises(VerificationError, match=CLIENT_MESSAGES[expected["reason"]]):
            verify(*arguments, max_skew=vectors["maxSkewSeconds"])


# The C# verifier on Mono.


@pytest.fixture(scope="module")
def verifier(tmp_path_factory) -> Path:
    """Compile the C# verifier with mcs; return the .exe path."""
    missing = [tool for tool in ("mcs", "mono") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not found: install mono-mcs and mono-runtime"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)

    output = tmp_path_factory.mktemp("dotnet") / "LicenseTokenVerifier.exe"
    result = subprocess.run(
        [
            "mcs",
            "-warnaserror+",
            "-r:System.Runtime.Serialization.dll",
            f"-out:{output}",
            str(KIT_SOURCE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mcs failed:\n{result.stdout}\n{result.stderr}"
    return output


def run_verifier(
    verifier: Path,
    key_files: list[Path],
    token: str,
    serial: str,
    nonce: str,
    now: int,
    max_skew: int = 300,
) -> subprocess.CompletedProcess:
    arguments = ["mono", str(verifier)]
    for key_file in key_files:
        arguments += ["--key", str(key_file)]
    arguments += ["--serial", serial, "--nonce", nonce, "--token", token]
    arguments += ["--now", str(now), "--max-skew", str(max_skew)]
    return subprocess.run(arguments, capture_output=True, text=True, encoding="utf-8", timeout=120)


def write_key_xml(path: Path, public_key: rsa.RSAPublicKey) -> Path:
    path.write_text(rsa_key_value_xml(public_key), encoding="ascii")
    return path


@pytest.mark.parametrize(("path", "case"), VECTOR_CASES)
def test_csharp_verifier_decides_vector_as_stated(verifier, tmp_path, path, case):
    vectors = load(path)
    key_file = tmp_path / "key.xml"
    key_file.write_text(vectors["publicKey"]["rsaKeyValue"], encoding="ascii")
    result = run_verifier(
        verifier,
        [key_file],
        case["token"],
        case["serialNumber"],
        case["nonce"],
        vectors["now"],
        vectors["maxSkewSeconds"],
    )
    expected = case["expected"]

    if not expected["valid"]:
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.startswith(f"INVALID {expected['reason']}:"), result.stdout
        return

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    claims = expected["claims"]
    assert lines[0] == "VALID"
    assert f"customerName: {claims['environment']['customerName']}" in lines
    for decision in claims["products"]:
        line = next(li for li in lines if f"| {decision['productName']} |" in li)
        assert f"status={decision['status']}" in line
        assert f"| {decision.get('publisherName', '-')} |" in line


# The C# verifier on tokens from the service.

IMPORT = {
    "publishers": [{"id": PUBLISHER_ID, "name": PUBLISHER_NAME}],
    "products": [{"publisherId": PUBLISHER_ID, "name": "RentalManagement", "active": True}],
    "customers": [
        {
            "name": CUSTOMER_NAME,
            "customerNumber": "C-<42>&",
            "environments": [{"tenant": "contoso.com", "serialNumber": SERIAL, "active": True}],
            "products": [
                {
                    "publisherId": PUBLISHER_ID,
                    "productName": "RentalManagement",
                    "licenseType": "Annual",
                    "enabled": True,
                    "siteLicense": True,
                    "expirationDate": "2026-12-31",
                }
            ],
        }
    ],
}


@pytest.fixture
def service_token(store, clock) -> dict:
    """A token from the validate function for a customer with non-ASCII and HTML names."""
    Importer(store).run(parse(IMPORT))
    clock(datetime(2026, 1, 15, 8, 0, tzinfo=UTC))
    response = post_validate(
        request_body(SERIAL, "contoso.com", product(PUBLISHER_ID, "RentalManagement"))
    )
    assert response.status_code == 200
    token = json.loads(response.get_body())["token"]
    return {"token": token, "claims": json.loads(b64url_decode(token.split(".")[1]))}


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture
def service_key_xml(key_file, tmp_path) -> Path:
    public_key = serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()
    return write_key_xml(tmp_path / "service-key.xml", public_key)


def test_csharp_verifier_accepts_service_token(verifier, service_token, service_key_xml):
    claims = service_token["claims"]
    result = run_verifier(
        verifier, [service_key_xml], service_token["token"], SERIAL, NONCE, claims["iat"]
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "VALID"
    assert f"customerName: {CUSTOMER_NAME}" in lines
    assert "customerNumber: C-<42>&" in lines
    assert any(
        f"| {PUBLISHER_NAME} | RentalManagement | status=VALID licensed=true" in line
        for line in lines
    )


def test_csharp_verifier_rejects_tampered_service_token(verifier, service_token, service_key_xml):
    header, payload, signature = service_token["token"].split(".")
    claims = dict(service_token["claims"], tenant="fabrikam.com")
    forged = b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    token = f"{header}.{forged}.{signature}"
    result = run_verifier(verifier, [service_key_xml], token, SERIAL, NONCE, claims["iat"])

    assert result.returncode == 1
    assert result.stdout.startswith("INVALID INVALID_SIGNATURE:")


def test_csharp_verifier_rejects_unpinned_kid(verifier, service_token, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key_file = write_key_xml(tmp_path / "other.xml", other)
    iat = service_token["claims"]["iat"]
    result = run_verifier(verifier, [key_file], service_token["token"], SERIAL, NONCE, iat)

    assert result.returncode == 1
    assert result.stdout.startswith("INVALID UNKNOWN_KID:")


def test_csharp_verifier_rejects_wrong_nonce(verifier, service_token, service_key_xml):
    iat = service_token["claims"]["iat"]
    other_nonce = "ZZZZZZZZZZZZZZZZZZZZZZ"
    result = run_verifier(
        verifier, [service_key_xml], service_token["token"], SERIAL, other_nonce, iat
    )

    assert result.returncode == 1
    assert result.stdout.startswith("INVALID NONCE_MISMATCH:")


def test_csharp_verifier_rejects_expired_service_token(verifier, service_token, service_key_xml):
    claims = service_token["claims"]
    after_expiry = claims["exp"] + 1
    # A skew wide enough that only exp decides.
    result = run_verifier(
        verifier,
        [service_key_xml],
        service_token["token"],
        SERIAL,
        NONCE,
        after_expiry,
        max_skew=after_expiry - claims["iat"],
    )

    assert result.returncode == 1
    assert result.stdout.startswith("INVALID EXPIRED:")


def test_csharp_verifier_picks_key_by_kid(verifier, service_token, service_key_xml, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_file = write_key_xml(tmp_path / "other.xml", other)
    iat = service_token["claims"]["iat"]
    result = run_verifier(
        verifier, [other_file, service_key_xml], service_token["token"], SERIAL, NONCE, iat
    )

    assert result.returncode == 0, result.stdout + result.stderr
