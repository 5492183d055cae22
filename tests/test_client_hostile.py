"""Tokens and key files crafted to slip past the reference client.

A signature segment with characters outside base64url must not verify, and
malformed key files or headers end in a failed check, never a traceback.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from licensing import client
from licensing.__main__ import main
from licensing.signing import PemFileKeySource, Signer, generate_key

SERIAL = "5KQ2-77XD-9WMA"
NONCE = "pVq4mZ7c0s3hH2xQeK9y1A"
PRODUCT = "3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44:RentalManagement:ISVRentalManagement:1.0"


def signed_token(key_file) -> str:
    now = int(time.time())
    claims = {"sub": SERIAL, "nonce": NONCE, "iat": now, "exp": now + 3600}
    return Signer(PemFileKeySource(key_file)).sign(claims)


def run_with_key(path) -> int:
    # The key file is read before any request, so no server is needed.
    args = ["validate", "--url", "http://127.0.0.1:9/api", "--serial", SERIAL]
    args += ["--tenant", "contoso.com", "--product", PRODUCT, "--public-key", str(path)]
    return main(args)


def test_signature_with_invalid_characters_rejected(key_file):
    header, payload, signature = signed_token(key_file).split(".")
    # Python's default base64 decoder skips characters outside the alphabet, so the
    # tampered segment still decodes to the original signature bytes.
    tampered = f"{header}.{payload}.{signature[:10]}!!**{signature[10:]}"
    keys = client.load_keys(key_file)

    with pytest.raises(client.VerificationError):
        client.verify(tampered, keys, SERIAL, NONCE, time.time())


def test_unhashable_kid_fails_verification(key_file):
    _, payload, signature = signed_token(key_file).split(".")
    header = json.dumps({"alg": "RS256", "kid": ["not", "a", "string"]}).encode()
    token = f"{base64.urlsafe_b64encode(header).rstrip(b'=').decode()}.{payload}.{signature}"

    with pytest.raises(client.VerificationError):
        client.verify(token, client.load_keys(key_file), SERIAL, NONCE, time.time())


def test_jwks_member_missing_reports_error(tmp_path, capsys):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"kty": "RSA"}]}))

    code = run_with_key(path)

    assert code == 1
    assert capsys.readouterr().err.startswith("error:")


def test_encrypted_pem_reports_error(tmp_path, capsys):
    plain = tmp_path / "plain.pem"
    generate_key(plain, 2048)
    key = serialization.load_pem_private_key(plain.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )

    code = run_with_key(encrypted)

    assert code == 1
    assert capsys.readouterr().err.startswith("error:")
