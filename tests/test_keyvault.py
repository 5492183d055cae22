"""Key Vault key sources against a loopback stand-in, with the real Azure SDK clients."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import subprocess
import sys
import time
from functools import partial

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from licensing import keyvault, runtime
from licensing.errors import SignerUnavailable
from licensing.keyvault import KeyVersion, RemoteKey, select_versions, vault_key_source
from licensing.settings import Settings
from licensing.signing import Signer, public_jwk
from tests.conftest import free_port
from tests.fixtures import FABRIKAM, ROOT, call, error_of, post_validate, product, request_body
from tests.keyvault_standin import (
    ACCESS_TOKEN,
    TENANT_ID,
    FixedTokenCredential,
    KeyVaultStandIn,
    forbid_default_credentials,
    pem_of,
)

NAME = "license-signing"
START = 1_767_225_600  # 2026-01-01T00:00:00Z
REFRESH = 300
HOUR = 3600


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    """Four 2048-bit keys shared by the module (generation is slow)."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]


@pytest.fixture(autouse=True)
def no_default_credential(monkeypatch):
    forbid_default_credentials(monkeypatch)


@pytest.fixture
def vault(tmp_path):
    standin = KeyVaultStandIn(tmp_path)
    yield standin
    standin.close()


@pytest.fixture
def credential() -> FixedTokenCredential:
    return FixedTokenCredential()


def vault_options(vault: KeyVaultStandIn) -> dict:
    # The stand-in's certificate is issued by a test CA, and its host is not
    # under vault.azure.net, which the SDK checks the challenge against.
    return {
        "connection_verify": vault.ca_file,
        "verify_challenge_resource": False,
        "retry_total": 0,
    }


def make_source(vault, credential, clock, kind="secret", url=None):
    settings = Settings.from_env(
        {
            "LICENSING_KEY_VAULT_URL": url or vault.url,
            "LICENSING_SIGNING_KEY_NAME": NAME,
            "LICENSING_SIGNING_KEY_KIND": kind,
            "LICENSING_SIGNING_KEY_REFRESH_SECONDS": str(REFRESH),
        }
    )
    return vault_key_source(settings, credential, clock, **vault_options(vault))


def kid_of(key) -> str:
    public_key = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public_jwk(public_key)["kid"]


def verify_with(token: str, private_key: rsa.RSAPrivateKey) -> dict:
    return jwt.decode(token, private_key.public_key(), algorithms=["RS256"])


def jwks_kids(source) -> list[str]:
    return [key["kid"] for key in Signer(source).jwks()["keys"]]


def test_secret_first_load_answers_challenge_and_signs(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    source = make_source(vault, credential, Clock(START))

    token = Signer(source).sign({"sub": "S-1", "name": "Société <&>"})

    assert verify_with(token, rsa_keys[0])["name"] == "Société <&>"
    assert jwt.get_unverified_header(token)["kid"] == kid_of(rsa_keys[0])
    assert credential.requests[0] == (("https://vault.azure.net/.default",), TENANT_ID)
    first = vault.state.requests[0]
    assert not first.authorized
    assert all("api-version" in r.query for r in vault.state.requests if r.authorized)


def test_secret_read_once_until_refresh_is_due(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    source.current()
    reads = len(vault.calls("GET", "/secrets/"))

    clock.advance(REFRESH - 1)
    source.current()
    source.verification_keys()

    assert len(vault.calls("GET", "/secrets/")) == reads


def test_reread_picks_up_new_secret_version(vault, credential, rsa_keys):
    first = vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    source.current()
    assert source.version == first

    second = vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START + 10)
    clock.advance(REFRESH)
    token = Signer(source).sign({"sub": "S-1"})

    assert source.version == second
    assert verify_with(token, rsa_keys[1])["sub"] == "S-1"
    assert jwt.get_unverified_header(token)["kid"] == kid_of(rsa_keys[1])


def test_failed_reread_keeps_key_and_warns(vault, credential, rsa_keys, caplog):
    first = vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    source.current()

    vault.state.failure_status = 403
    vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START + 10)
    clock.advance(REFRESH)
    with caplog.at_level(logging.WARNING, logger="licensing.keyvault"):
        token = Signer(source).sign({"sub": "S-1"})

    assert verify_with(token, rsa_keys[0])["sub"] == "S-1"
    assert source.version == first
    warnings = [r for r in caplog.records if r.name == "licensing.keyvault"]
    assert len(warnings) == 1
    assert "keeping version" in warnings[0].getMessage()
    assert "status 403" in warnings[0].getMessage()


def test_failed_reread_is_retried_after_refresh(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    source.current()
    vault.state.failure_status = 503
    clock.advance(REFRESH)
    source.current()

    vault.state.failure_status = None
    second = vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START + REFRESH + 1)
    clock.advance(REFRESH)
    source.current()

    assert source.version == second


def test_unreachable_vault_raises_signer_unavailable(vault, credential):
    source = make_source(vault, credential, Clock(START), url=f"https://127.0.0.1:{free_port()}")
    with pytest.raises(SignerUnavailable) as caught:
        source.current()

    assert caught.value.retry_after == 60
    with pytest.raises(SignerUnavailable):
        source.verification_keys()


def test_rejected_challenge_raises_signer_unavailable(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    settings = Settings.from_env(
        {"LICENSING_KEY_VAULT_URL": vault.url, "LICENSING_SIGNING_KEY_NAME": NAME}
    )
    # With its default check, the SDK rejects a challenge for vault.azure.net
    # from a host outside that domain.
    source = vault_key_source(
        settings, credential, Clock(START), connection_verify=vault.ca_file, retry_total=0
    )

    with pytest.raises(SignerUnavailable):
        source.current()


def test_missing_secret_raises_signer_unavailable(vault, credential, caplog):
    source = make_source(vault, credential, Clock(START))
    with (
        caplog.at_level(logging.ERROR, logger="licensing.keyvault"),
        pytest.raises(SignerUnavailable),
    ):
        source.current()

    assert "SecretNotFound" in caplog.text


def test_start_failure_not_retried_before_backoff(vault, credential, rsa_keys):
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    with pytest.raises(SignerUnavailable):
        source.current()
    listings = len(vault.calls("GET", "/versions"))

    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    with pytest.raises(SignerUnavailable):
        source.current()
    assert len(vault.calls("GET", "/versions")) == listings

    clock.advance(keyvault.FAILED_START_RETRY_SECONDS)
    assert kid_of(source.current().public_key) == kid_of(rsa_keys[0])


def test_bad_secret_value_is_never_logged(vault, credential, caplog):
    material = "-----BEGIN PRIVATE KEY-----\nSECRETMATERIAL\n-----END PRIVATE KEY-----\n"
    vault.add_secret(NAME, material, created=START - HOUR)
    source = make_source(vault, credential, Clock(START))
    with caplog.at_level(logging.DEBUG), pytest.raises(SignerUnavailable) as caught:
        source.current()

    assert "SECRETMATERIAL" not in caplog.text
    assert "SECRETMATERIAL" not in str(caught.value)
    assert "not an unencrypted PEM private key" in caplog.text


def test_logs_hold_no_key_material(vault, credential, rsa_keys, caplog):
    pem = pem_of(rsa_keys[0])
    vault.add_secret(NAME, pem, created=START - HOUR)
    source = make_source(vault, credential, Clock(START))
    with caplog.at_level(logging.DEBUG):
        Signer(source).sign({"sub": "S-1"})

    body = "".join(pem.splitlines()[1:-1])
    assert "PRIVATE KEY" not in caplog.text
    for start in range(0, len(body) - 40, 40):
        assert body[start : start + 40] not in caplog.text
    assert ACCESS_TOKEN not in caplog.text


def self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "licensing signing")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def test_certificate_pem_secret_is_read(vault, credential, rsa_keys):
    certificate = self_signed(rsa_keys[0]).public_bytes(serialization.Encoding.PEM).decode()
    value = pem_of(rsa_keys[0]) + certificate
    vault.add_secret(NAME, value, created=START - HOUR, content_type="application/x-pem-file")
    source = make_source(vault, credential, Clock(START))

    assert verify_with(Signer(source).sign({"sub": "S-1"}), rsa_keys[0])["sub"] == "S-1"


def test_certificate_pkcs12_secret_is_read(vault, credential, rsa_keys):
    pfx = pkcs12.serialize_key_and_certificates(
        b"licensing", rsa_keys[0], self_signed(rsa_keys[0]), None, serialization.NoEncryption()
    )
    value = base64.b64encode(pfx).decode("ascii")
    vault.add_secret(NAME, value, created=START - HOUR, content_type="application/x-pkcs12")
    source = make_source(vault, credential, Clock(START))

    assert verify_with(Signer(source).sign({"sub": "S-1"}), rsa_keys[0])["sub"] == "S-1"


def test_remote_key_signs_in_key_vault(vault, credential, rsa_keys):
    vault.add_key(NAME, rsa_keys[0], created=START - HOUR)
    source = make_source(vault, credential, Clock(START), kind="key")

    token = Signer(source).sign({"sub": "S-1", "name": "Société <&>"})

    assert isinstance(source.current(), RemoteKey)
    assert verify_with(token, rsa_keys[0])["name"] == "Société <&>"
    assert jwt.get_unverified_header(token)["kid"] == kid_of(rsa_keys[0])
    assert len(vault.calls("POST", "/sign")) == 1


@pytest.mark.parametrize("kind", ["secret", "key"])
def test_jwks_lists_previous_version_after_rotation(vault, credential, rsa_keys, kind):
    add = vault.add_secret if kind == "secret" else vault.add_key

    def value(key):
        return pem_of(key) if kind == "secret" else key

    # Replaced 20 days ago: its tokens expired long ago (lifetime 168 h).
    add(NAME, value(rsa_keys[3]), created=START - 30 * 24 * HOUR)
    add(NAME, value(rsa_keys[0]), created=START - 20 * 24 * HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock, kind=kind)
    assert jwks_kids(source) == [kid_of(rsa_keys[0])]

    add(NAME, value(rsa_keys[1]), created=START + 60)
    clock.advance(REFRESH)

    assert jwks_kids(source) == [kid_of(rsa_keys[1]), kid_of(rsa_keys[0])]
    token = Signer(source).sign({"sub": "S-1"})
    assert verify_with(token, rsa_keys[1])["sub"] == "S-1"


def test_previous_version_dropped_after_token_lifetime(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)
    source.current()
    vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START + 60)
    clock.advance(REFRESH)
    assert len(jwks_kids(source)) == 2

    clock.advance(168 * HOUR + REFRESH + keyvault.CLOCK_SKEW_SECONDS)

    assert jwks_kids(source) == [kid_of(rsa_keys[1])]


def test_staged_version_published_before_it_signs(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START, not_before=START + 24 * HOUR)
    clock = Clock(START)
    source = make_source(vault, credential, clock)

    assert jwks_kids(source) == [kid_of(rsa_keys[0]), kid_of(rsa_keys[1])]
    assert verify_with(Signer(source).sign({"sub": "S-1"}), rsa_keys[0])

    clock.advance(24 * HOUR)
    assert verify_with(Signer(source).sign({"sub": "S-1"}), rsa_keys[1])
    assert jwks_kids(source) == [kid_of(rsa_keys[1]), kid_of(rsa_keys[0])]


def test_disabled_version_neither_signs_nor_published(vault, credential, rsa_keys):
    vault.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    vault.add_secret(NAME, pem_of(rsa_keys[1]), created=START - 60, enabled=False)
    source = make_source(vault, credential, Clock(START))

    assert jwks_kids(source) == [kid_of(rsa_keys[0])]


def test_select_versions_orders_current_earlier_upcoming():
    versions = [
        KeyVersion("old", active_from=0),
        KeyVersion("previous", active_from=100),
        KeyVersion("current", active_from=200),
        KeyVersion("staged", active_from=1_000),
    ]
    selection = select_versions(versions, now=300, retention=150)

    assert selection.current.version == "current"
    assert [v.version for v in selection.earlier] == ["previous"]
    assert [v.version for v in selection.upcoming] == ["staged"]


def test_select_versions_skips_expired_current():
    versions = [KeyVersion("older", 0), KeyVersion("expired", 100, expires=250)]
    selection = select_versions(versions, now=300, retention=1_000)

    assert selection.current.version == "older"
    assert [v.version for v in selection.earlier] == ["expired"]


# Through the service: validate, keys and health with the Key Vault source.


@pytest.fixture
def vault_service(service_env, vault, credential, monkeypatch):
    """Point the service at the stand-in; returns the stand-in."""
    monkeypatch.setenv("LICENSING_KEY_VAULT_URL", vault.url)
    monkeypatch.setenv("LICENSING_SIGNING_KEY_NAME", NAME)
    build = partial(runtime.key_source, credential=credential, **vault_options(vault))
    monkeypatch.setattr(runtime, "key_source", build)
    runtime.reset()
    return vault


def validate_unknown_serial():
    return post_validate(request_body("KV-TEST-0001", "contoso.com", product(FABRIKAM, "X1")))


def test_validate_signs_with_key_vault_secret(vault_service, rsa_keys):
    vault_service.add_secret(NAME, pem_of(rsa_keys[0]), created=START - HOUR)
    response = validate_unknown_serial()

    assert response.status_code == 200
    token = json.loads(response.get_body())["token"]
    assert verify_with(token, rsa_keys[0])["sub"] == "KV-TEST-0001"


def test_validate_signs_remotely_with_key_vault_key(vault_service, rsa_keys, monkeypatch):
    monkeypatch.setenv("LICENSING_SIGNING_KEY_KIND", "key")
    runtime.reset()
    vault_service.add_key(NAME, rsa_keys[2], created=START - HOUR)
    response = validate_unknown_serial()

    assert response.status_code == 200
    token = json.loads(response.get_body())["token"]
    assert verify_with(token, rsa_keys[2])["sub"] == "KV-TEST-0001"
    assert len(vault_service.calls("POST", "/sign")) == 1


def test_keys_endpoint_lists_key_vault_versions(vault_service, rsa_keys):
    # The service runs on the real clock: the second version replaced the
    # first an hour ago, well within a token lifetime.
    now = int(time.time())
    vault_service.add_secret(NAME, pem_of(rsa_keys[0]), created=now - 2 * HOUR)
    vault_service.add_secret(NAME, pem_of(rsa_keys[1]), created=now - HOUR)
    response = call("keys")
    kids = [key["kid"] for key in json.loads(response.get_body())["keys"]]

    assert response.status_code == 200
    assert kids == [kid_of(rsa_keys[1]), kid_of(rsa_keys[0])]


def test_unreachable_vault_at_start_gives_503(vault_service, monkeypatch):
    monkeypatch.setenv("LICENSING_KEY_VAULT_URL", f"https://127.0.0.1:{free_port()}")
    runtime.reset()

    response = validate_unknown_serial()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert error_of(response)["code"] == "SIGNER_UNAVAILABLE"

    health = call("health")
    assert health.status_code == 503
    assert json.loads(health.get_body())["checks"]["signer"] == "unavailable"


def test_default_credential_gets_client_id(monkeypatch):
    built = []

    class Recorder:
        def __init__(self, **kwargs) -> None:
            built.append(kwargs)

    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Recorder)
    settings = Settings.from_env(
        {
            "LICENSING_KEY_VAULT_URL": "https://example-vault.vault.azure.net",
            "LICENSING_SIGNING_KEY_NAME": NAME,
            "LICENSING_KEY_VAULT_CLIENT_ID": "8f1c2d3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f",
        }
    )
    source = runtime.key_source(settings)

    assert built == [{"managed_identity_client_id": "8f1c2d3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f"}]
    assert isinstance(source, keyvault.KeyVaultSecretSource)


def test_file_key_source_loads_no_key_vault_packages(key_file):
    script = (
        "import sys\n"
        "import function_app\n"
        "from licensing import keyvault, runtime\n"
        "from licensing.settings import Settings\n"
        f"runtime.key_source(Settings.from_env({{'LICENSING_SIGNING_KEY_FILE': {str(key_file)!r}}}))"
        ".current()\n"
        "heavy = [m for m in sys.modules if m.startswith(('azure.identity', 'azure.keyvault'))]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )

    assert result.stdout.strip() == "[]"
