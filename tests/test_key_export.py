"""`python -m licensing keys export`: PEM, JWK and .NET RSAKeyValue XML of the public keys."""

from __future__ import annotations

import base64
import json
import time
import xml.etree.ElementTree as ElementTree
from functools import partial

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from licensing import runtime
from licensing.__main__ import main
from licensing.signing import public_jwk, public_pem
from tests.conftest import free_port
from tests.keyvault_standin import (
    FixedTokenCredential,
    KeyVaultStandIn,
    forbid_default_credentials,
    pem_of,
)

HOUR = 3600


@pytest.fixture(autouse=True)
def no_default_credential(monkeypatch):
    forbid_default_credentials(monkeypatch)


@pytest.fixture
def public_key(key_file) -> rsa.RSAPublicKey:
    return serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()


def export(capsys, *args: str) -> str:
    assert main(["keys", "export", *args]) == 0
    return capsys.readouterr().out


def unsigned(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_export_prints_pem_jwk_and_xml(capsys, key_file, public_key):
    output = export(capsys, "--key", str(key_file))

    assert public_pem(public_key).strip() in output
    assert json.dumps(public_jwk(public_key)) in output
    assert "<RSAKeyValue><Modulus>" in output
    assert f"kid {public_jwk(public_key)['kid']}" in output


def test_export_xml_matches_key_without_leading_zero(capsys, key_file, public_key):
    xml = export(capsys, "--key", str(key_file), "--format", "xml").strip()
    root = ElementTree.fromstring(xml)
    modulus = unsigned(root.findtext("Modulus"))
    exponent = unsigned(root.findtext("Exponent"))
    numbers = public_key.public_numbers()

    assert root.tag == "RSAKeyValue"
    assert [child.tag for child in root] == ["Modulus", "Exponent"]
    assert int.from_bytes(modulus, "big") == numbers.n
    assert len(modulus) == public_key.key_size // 8
    assert modulus[0] != 0
    assert exponent == b"\x01\x00\x01"


def test_export_pem_reads_back(capsys, key_file, public_key):
    pem = export(capsys, "--key", str(key_file), "--format", "pem")
    loaded = serialization.load_pem_public_key(pem.encode("ascii"))

    assert loaded.public_numbers() == public_key.public_numbers()


def test_export_jwk_and_jwks(capsys, key_file, public_key):
    jwk = json.loads(export(capsys, "--key", str(key_file), "--format", "jwk"))
    jwks = json.loads(export(capsys, "--key", str(key_file), "--format", "jwks"))

    assert jwk == public_jwk(public_key)
    assert jwks == {"keys": [public_jwk(public_key)]}


def test_export_reads_public_key_pem(capsys, tmp_path, public_key):
    path = tmp_path / "public.pem"
    path.write_text(public_pem(public_key))

    assert (
        json.loads(export(capsys, "--key", str(path), "--format", "jwk"))["n"]
        == (public_jwk(public_key)["n"])
    )


def test_export_uses_configured_key_file(capsys, monkeypatch, key_file, public_key):
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.delenv("LICENSING_KEY_VAULT_URL", raising=False)

    assert json.loads(export(capsys, "--format", "jwk")) == public_jwk(public_key)


def test_export_rejects_file_without_key(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("-----BEGIN PRIVATE KEY-----\nSECRETMATERIAL\n-----END PRIVATE KEY-----\n")

    assert main(["keys", "export", "--key", str(path)]) == 2
    error = capsys.readouterr().err
    assert "cannot read a public key" in error
    assert "SECRETMATERIAL" not in error


@pytest.fixture
def vault(tmp_path, monkeypatch):
    """A Key Vault stand-in configured as the key source of the command."""
    standin = KeyVaultStandIn(tmp_path)
    monkeypatch.setenv("LICENSING_KEY_VAULT_URL", standin.url)
    monkeypatch.setenv("LICENSING_SIGNING_KEY_NAME", "license-signing")
    monkeypatch.delenv("LICENSING_SIGNING_KEY_FILE", raising=False)
    build = partial(
        runtime.key_source,
        credential=FixedTokenCredential(),
        connection_verify=standin.ca_file,
        verify_challenge_resource=False,
        retry_total=0,
    )
    monkeypatch.setattr(runtime, "key_source", build)
    yield standin
    standin.close()


def test_export_lists_key_vault_versions_current_first(capsys, vault):
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]
    now = int(time.time())
    vault.add_secret("license-signing", pem_of(keys[0]), created=now - 2 * HOUR)
    vault.add_secret("license-signing", pem_of(keys[1]), created=now - HOUR)

    output = export(capsys)
    current = public_jwk(keys[1].public_key())["kid"]
    previous = public_jwk(keys[0].public_key())["kid"]

    assert f"Key 1 of 2: kid {current}, 2048 bits, signs new tokens" in output
    assert f"Key 2 of 2: kid {previous}, 2048 bits, verifies only" in output
    assert "PRIVATE" not in output


def test_export_fails_when_vault_unreachable(capsys, vault, monkeypatch):
    monkeypatch.setenv("LICENSING_KEY_VAULT_URL", f"https://127.0.0.1:{free_port()}")

    assert main(["keys", "export"]) == 2
    assert "signing key is unavailable" in capsys.readouterr().err
