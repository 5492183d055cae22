"""Signer, key loading, JWKS and the keys command."""

import json
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from licensing.__main__ import main
from licensing.errors import SignerUnavailable
from licensing.signing import PemFileKeySource, Signer, generate_key, thumbprint
from tests.fixtures import call


def write_key(path, key) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_thumbprint_matches_rfc_7638_example():
    # The example key and thumbprint of RFC 7638, section 3.1.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_signed_token_verifies_with_pyjwt(key_file):
    signer = Signer(PemFileKeySource(key_file))
    token = signer.sign({"sub": "S-1", "name": "Société <&>"})
    jwk = signer.jwks()["keys"][0]

    key = jwt.PyJWK(jwk).key
    assert jwt.decode(token, key, algorithms=["RS256"])["name"] == "Société <&>"
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]


def test_jwks_lists_public_parts_only(key_file):
    jwk = Signer(PemFileKeySource(key_file)).jwks()["keys"][0]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert jwk["alg"] == "RS256"


def test_key_under_2048_bits_rejected(tmp_path):
    path = tmp_path / "small.pem"
    write_key(path, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(SignerUnavailable, match="1024 bits"):
        PemFileKeySource(path).current()


def test_non_rsa_key_rejected(tmp_path):
    path = tmp_path / "ec.pem"
    write_key(path, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignerUnavailable, match="not an RSA key"):
        PemFileKeySource(path).current()


def test_garbage_key_file_error_quotes_no_content(tmp_path):
    path = tmp_path / "bad.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nSECRETMATERIAL\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SignerUnavailable) as caught:
        PemFileKeySource(path).current()
    assert "SECRETMATERIAL" not in str(caught.value)


def test_key_loaded_once(tmp_path):
    path = tmp_path / "key.pem"
    generate_key(path, 2048)
    source = PemFileKeySource(path)
    first = source.current()
    path.unlink()
    assert source.current() is first


def test_generate_writes_owner_only_file(tmp_path):
    path = tmp_path / "dev" / "key.pem"
    assert main(["keys", "generate", "--out", str(path), "--bits", "2048"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert serialization.load_pem_private_key(path.read_bytes(), None).key_size == 2048


def test_generate_keeps_existing_key(tmp_path):
    path = tmp_path / "key.pem"
    generate_key(path, 2048)
    before = path.read_bytes()
    assert main(["keys", "generate", "--out", str(path)]) == 0
    assert path.read_bytes() == before


def test_generate_refuses_small_keys(tmp_path):
    assert main(["keys", "generate", "--out", str(tmp_path / "k.pem"), "--bits", "1024"]) == 2


def test_keys_endpoint_serves_jwks(service_env, key_file):
    response = call("keys")
    keys = json.loads(response.get_body())["keys"]
    assert response.status_code == 200
    assert keys == Signer(PemFileKeySource(key_file)).jwks()["keys"]
