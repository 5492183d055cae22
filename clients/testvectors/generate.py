"""Write the license token test vectors: rsa-2048.json and rsa-4096.json.

Run from the repository root: ``.venv/bin/python clients/testvectors/generate.py``.
Each run makes new RSA keys, so every token changes. Only the public keys are
written. Tokens are signed by the service's own Signer, and the expected
result of each case is fixed by how the case was made. tests/test_dotnet_kit.py
checks the committed files with the Python client and the C# verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from licensing.signing import (  # noqa: E402
    Signer,
    StaticKeySource,
    b64url,
    public_jwk,
    public_pem,
    rsa_key_value_xml,
)

HERE = Path(__file__).resolve().parent

# The verification time of every case, so that the vectors never go stale.
NOW = int(datetime(2026, 1, 15, 8, 0, tzinfo=UTC).timestamp())
MAX_SKEW_SECONDS = 300
SERIAL = "5KQ2-77XD-9WMA"
NONCE = "pVq4mZ7c0s3hH2xQeK9y1A"

# Names with non-ASCII and HTML-sensitive characters: a verifier must decode
# them exactly and a page that shows them must escape them.
CUSTOMER_NAME = "Société Générale <Ops> & \"Fils\" – 株式会社 Ünïcødé 'Ltd'"
PUBLISHER_NAME = "Fabrikam <Software> & Co. ÆØÅ"
PRODUCT_NAME = "Rental<Management>&Ünïcødé"


def claims(issued: int = NOW - 30, lifetime: int = 168 * 3600) -> dict:
    """Claims shaped like the service's: one licensed and one negative decision."""
    return {
        "iss": "https://licensing.example",
        "sub": SERIAL,
        "tenant": "contoso.com",
        "nonce": NONCE,
        "iat": issued,
        "exp": issued + lifetime,
        "recheckAfter": issued + 24 * 3600,
        "jti": "0f8e4c1a-6b2d-4e5f-9a7c-3d1b2e4f6a8c",
        "environment": {
            "registered": True,
            "active": True,
            "customerName": CUSTOMER_NAME,
            "customerNumber": "C-1001 <&>",
        },
        "products": [
            {
                "publisherId": "3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44",
                "productName": PRODUCT_NAME,
                "status": "VALID",
                "licensed": True,
                "disableFeature": False,
                "publisherName": PUBLISHER_NAME,
                "licenseType": "Annual",
                "enabled": True,
                "siteLicense": False,
                "numberOfUsers": 25,
                "subscriptionStartDate": "2025-01-01",
                "expirationDate": "2026-12-31",
                "featureDisableDate": "2027-03-31",
                "termsUrl": "https://fabrikam.example/terms?a=1&b=<2>",
            },
            {
                "publisherId": "9c1d7e2a-5b3f-4e8d-a6c0-1f2e3d4c5b6a",
                "productName": "WarehouseLabels",
                "status": "NOT_LICENSED",
                "licensed": False,
                "disableFeature": False,
            },
        ],
    }


def segment(value: dict, ensure_ascii: bool = True) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return b64url(text.encode("utf-8"))


def sign_raw(key: rsa.RSAPrivateKey, header: dict, payload: str) -> str:
    """Sign an already encoded payload, for cases the Signer would never produce."""
    signing_input = f"{segment(header)}.{payload}"
    return f"{signing_input}.{b64url(StaticKeySource(key).current().sign(signing_input.encode()))}"


def case(name: str, description: str, token: str, reason: str | None, **overrides) -> dict:
    entry = {
        "name": name,
        "description": description,
        "token": token,
        "serialNumber": overrides.get("serial", SERIAL),
        "nonce": overrides.get("nonce", NONCE),
        "expected": {"valid": reason is None},
    }
    if reason is None:
        entry["expected"]["claims"] = overrides["expected_claims"]
    else:
        entry["expected"]["reason"] = reason
    return entry


def cases(key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> list[dict]:
    signer = Signer(StaticKeySource(key))
    kid = public_jwk(key.public_key())["kid"]
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    valid = signer.sign(claims())
    head, payload, signature = valid.split(".")

    tampered_claims = claims()
    tampered_claims["products"][1].update(status="VALID", licensed=True)
    flipped = bytearray(StaticKeySource(key).current().sign(f"{head}.{payload}".encode()))
    flipped[-1] ^= 0x01
    hs_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{payload}"
    hs_secret = public_pem(key.public_key()).encode("ascii")
    hs_signature = b64url(hmac.new(hs_secret, hs_input.encode(), hashlib.sha256).digest())

    return [
        case("valid", "Signed by the pinned key, as the service signs.", valid, None,
             expected_claims=claims()),
        case("valid-utf8-payload", "Valid; the payload holds raw UTF-8 instead of \\u escapes.",
             sign_raw(key, header, segment(claims(), ensure_ascii=False)), None,
             expected_claims=claims()),
        case("tampered-payload", "A negative decision turned into VALID after signing.",
             f"{head}.{segment(tampered_claims)}.{signature}", "INVALID_SIGNATURE"),
        case("tampered-signature", "The last bit of the signature flipped.",
             f"{head}.{payload}.{b64url(bytes(flipped))}", "INVALID_SIGNATURE"),
        case("wrong-kid", "Signed by another key, which is not pinned.",
             Signer(StaticKeySource(other)).sign(claims()), "UNKNOWN_KID"),
        case("alg-none", "alg none without a signature.",
             f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.", "UNSUPPORTED_ALGORITHM"),
        case("alg-hs256", "HS256 keyed with the public key PEM.",
             f"{hs_input}.{hs_signature}", "UNSUPPORTED_ALGORITHM"),
        case("expired", "Issued 20 s ago with a lifetime of 10 s.",
             signer.sign(claims(issued=NOW - 20, lifetime=10)), "EXPIRED"),
        case("issued-in-future", "iat one hour ahead of the verifier's clock.",
             signer.sign(claims(issued=NOW + 3600)), "ISSUED_AT_SKEW"),
        case("wrong-nonce", "A valid token checked against a different nonce.",
             valid, "NONCE_MISMATCH", nonce="AAAAAAAAAAAAAAAAAAAAAA"),
        case("wrong-serial", "A valid token checked against a different serial number.",
             valid, "SUBJECT_MISMATCH", serial="7PLM-22QA-3XZT"),
        case("two-parts", "Only header and payload.", f"{head}.{payload}", "MALFORMED_TOKEN"),
        case("bad-base64", "A character outside base64url in the header.",
             f"{head[:-1]}*.{payload}.{signature}", "MALFORMED_TOKEN"),
    ]  # fmt: skip


def vectors(bits: int) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = key.public_key()
    jwk = public_jwk(public_key)
    return {
        "description": (
            f"License token test vectors, {bits}-bit RSA key. Verify each case at `now` "
            "(Unix seconds) with `maxSkewSeconds`, pinning only `publicKey`, and with the "
            "case's serialNumber and nonce as the values sent."
        ),
        "generator": "python clients/testvectors/generate.py",
        "keyBits": bits,
        "now": NOW,
        "maxSkewSeconds": MAX_SKEW_SECONDS,
        "publicKey": {
            "kid": jwk["kid"],
            "pem": public_pem(public_key),
            "jwk": jwk,
            "rsaKeyValue": rsa_key_value_xml(public_key),
        },
        "cases": cases(key, other),
    }


def main() -> int:
    for bits in (2048, 4096):
        path = HERE / f"rsa-{bits}.json"
        text = json.dumps(vectors(bits), indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        print(f"Wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
