"""Entra ID bearer tokens: PyJWT-minted tokens checked against a JWKS served on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import azure.functions as func
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from licensing import auth, http
from licensing.settings import Settings, SettingsError
from tests.fixtures import FABRIKAM, error_of, post_validate, product, request_body

TENANT = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
OTHER_TENANT = "f0e1d2c3-b4a5-4968-8776-655443322110"
APP_ID_URI = "api://licensing-test"
CLIENT_ID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
USER_OID = "11111111-2222-4333-8444-555555555555"
APP_OID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
V1_ISSUER = f"https://sts.windows.net/{TENANT}/"

KEY_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig"}


class KeyServer:
    """A JWKS endpoint on 127.0.0.1 that counts the requests it serves."""

    def __init__(self) -> None:
        self.jwks = {"keys": [public_jwk(KEY_1, "key-1")]}
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                found = self.path == f"/{TENANT}/discovery/v2.0/keys"
                status = server.status if found else 404
                body = json.dumps(server.jwks).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.authority = f"http://127.0.0.1:{self.http.server_port}"
        # A short poll interval lets stop() return quickly.
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.stop()


def auth_env(authority: str) -> dict[str, str]:
    return {
        "LICENSING_AUTH_TENANT_ID": TENANT,
        "LICENSING_AUTH_AUDIENCE": f"{APP_ID_URI}, {CLIENT_ID}",
        "LICENSING_AUTH_AUTHORITY": authority,
    }


def clear_auth_env(monkeypatch) -> None:
    for name in (
        "LICENSING_AUTH_TENANT_ID",
        "LICENSING_AUTH_AUDIENCE",
        "LICENSING_AUTH_AUTHORITY",
        "LICENSING_AUTH_DISABLED",
        "WEBSITE_INSTANCE_ID",
        "WEBSITE_SITE_NAME",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def entra(key_server, monkeypatch) -> Iterator[KeyServer]:
    """Configure the process-wide settings for the test tenant and its key server."""
    clear_auth_env(monkeypatch)
    for name, value in auth_env(key_server.authority).items():
        monkeypatch.setenv(name, value)
    auth.reset()
    yield key_server
    auth.reset()


@pytest.fixture
def no_auth_settings(monkeypatch) -> Iterator[None]:
    clear_auth_env(monkeypatch)
    auth.reset()
    yield
    auth.reset()


@pytest.fixture
def auth_disabled(monkeypatch) -> Iterator[None]:
    clear_auth_env(monkeypatch)
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    auth.reset()
    yield
    auth.reset()


def mint(key=KEY_1, kid: str | None = "key-1", now: float | None = None, **claims) -> str:
    """Sign a v1 user token; a claim given as None is left out."""
    now = time.time() if now is None else now
    payload = {
        "iss": V1_ISSUER,
        "aud": APP_ID_URI,
        "iat": int(now),
        "nbf": int(now) - 30,
        "exp": int(now) + 3600,
        "oid": USER_OID,
        "name": "Megan Bowen",
        "scp": "user_impersonation",
        "roles": [auth.READ],
        "ver": "1.0",
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def mint_for(server: KeyServer, **claims) -> str:
    """Sign a v2 token, whose issuer names the server's authority."""
    return mint(**{"iss": f"{server.authority}/{TENANT}/v2.0", "aud": CLIENT_ID, **claims})


def app_token(server: KeyServer, **claims) -> str:
    """Sign an app-only token, as the client credentials flow returns it."""
    app_claims = {"scp": None, "name": None, "idtyp": "app", "azp": CLIENT_ID, "oid": APP_OID}
    return mint_for(server, **{**app_claims, **claims})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict, payload: dict, sign) -> str:
    """Build a compact JWS by hand, for algorithms that PyJWT refuses to sign with."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    return signing_input + "." + b64url(sign(signing_input.encode()))


def admin_request(headers: dict | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        "GET", "http://localhost/api/v1/products?code=function-key", headers=headers or {}, body=b""
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def call_admin(role: str, headers: dict | None = None) -> func.HttpResponse:
    """Run auth.authorize in an HTTP function, as the admin API does."""

    def handler(req: func.HttpRequest) -> func.HttpResponse:
        caller = auth.authorize(req, role)
        body = {"oid": caller.object_id, "name": caller.name, "roles": sorted(caller.roles)}
        return http.json_response({**body, "appOnly": caller.app_only})

    return http.handle(admin_request(headers), handler)


def body_of(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def assert_invalid_token(response: func.HttpResponse) -> None:
    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith(f'Bearer realm="{APP_ID_URI}"')
    assert f'/{TENANT}/oauth2/v2.0/authorize"' in challenge
    assert challenge.endswith('error="invalid_token"')


# Allowed and rejected role pairs


@pytest.mark.parametrize(
    ("granted", "required", "allowed"),
    [
        (auth.READ, auth.READ, True),
        (auth.READ, auth.WRITE, False),
        (auth.READ, auth.ADMIN, False),
        (auth.WRITE, auth.READ, True),
        (auth.WRITE, auth.WRITE, True),
        (auth.WRITE, auth.ADMIN, False),
        (auth.ADMIN, auth.READ, True),
        (auth.ADMIN, auth.WRITE, True),
        (auth.ADMIN, auth.ADMIN, True),
        (auth.VALIDATE, auth.READ, False),
        (auth.ADMIN, auth.VALIDATE, False),
    ],
)
def test_role_hierarchy(entra, granted, required, allowed):
    response = call_admin(required, bearer(mint_for(entra, roles=[granted])))

    if allowed:
        assert response.status_code == 200
        assert required in body_of(response)["roles"]
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "FORBIDDEN"
        assert "WWW-Authenticate" not in response.headers


def test_admin_role_grants_read_and_write(entra):
    response = call_admin(auth.READ, bearer(mint_for(entra, roles=[auth.ADMIN])))

    assert body_of(response)["roles"] == sorted([auth.ADMIN, auth.WRITE, auth.READ])


def test_caller_names_user(entra):
    response = call_admin(auth.READ, bearer(mint_for(entra)))

    body = body_of(response)
    assert body["oid"] == USER_OID
    assert body["name"] == "Megan Bowen"
    assert body["appOnly"] is False


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"name": None, "preferred_username": "megan@contoso.com"}, "megan@contoso.com"),
        ({"name": None, "appid": CLIENT_ID}, CLIENT_ID),
        ({"name": None, "azp": CLIENT_ID}, CLIENT_ID),
        ({"name": None}, USER_OID),
    ],
)
def test_caller_name_fallbacks(entra, claims, expected):
    response = call_admin(auth.READ, bearer(mint_for(entra, **claims)))

    assert body_of(response)["name"] == expected


def test_app_token_caller_is_app_only(entra):
    response = call_admin(auth.READ, bearer(app_token(entra, roles=[auth.READ])))

    body = body_of(response)
    assert body["appOnly"] is True
    assert body["oid"] == APP_OID
    assert body["name"] == CLIENT_ID


def test_missing_role_is_forbidden(entra):
    response = call_admin(auth.READ, bearer(mint_for(entra, roles=None)))

    assert response.status_code == 403
    assert error_of(response)["code"] == "FORBIDDEN"
    assert auth.READ in error_of(response)["message"]


def test_unknown_role_name_is_programming_error(entra):
    with pytest.raises(ValueError, match="Licenses.Delete"):
        auth.authorize(admin_request(bearer(mint_for(entra))), "Licenses.Delete")


# Missing and malformed tokens


def test_missing_token_is_unauthorized(entra):
    response = call_admin(auth.READ)

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{APP_ID_URI}"')
    assert f'authorization_uri="{entra.authority}/{TENANT}/oauth2/v2.0/authorize"' in challenge
    assert "error=" not in challenge


def test_other_scheme_is_treated_as_missing_token(entra):
    response = call_admin(auth.READ, {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="})

    assert response.status_code == 401
    assert "error=" not in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer    ",
        "Bearer two words",
        "Bearer abc.def",
        "Bearer a.b.c",
        "Bearer \u2603.\u2603.\u2603",
        "Bearer " + "a" * (auth.MAX_TOKEN_CHARS + 1),
    ],
)
def test_malformed_authorization_header(entra, authorization):
    response = call_admin(auth.READ, {"Authorization": authorization})

    assert_invalid_token(response)


def test_scheme_name_is_case_insensitive(entra):
    response = call_admin(auth.READ, {"Authorization": f"bearer {mint_for(entra)}"})

    assert response.status_code == 200


# Signature and algorithm


def test_bad_signature_is_rejected(entra):
    token = mint_for(entra, key=OTHER_KEY, kid="key-1")

    response = call_admin(auth.READ, bearer(token))

    assert_invalid_token(response)
    assert "signature" in error_of(response)["message"]


def test_tampered_payload_is_rejected(entra):
    header, payload, signature = mint_for(entra).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = b64url(json.dumps({**claims, "roles": [auth.ADMIN]}).encode())

    response = call_admin(auth.ADMIN, bearer(f"{header}.{forged}.{signature}"))

    assert_invalid_token(response)


def test_alg_none_is_rejected(entra):
    claims = jwt.decode(mint_for(entra), options={"verify_signature": False})
    token = compact({"alg": "none", "typ": "JWT", "kid": "key-1"}, claims, lambda _: b"")

    response = call_admin(auth.READ, bearer(token))

    assert_invalid_token(response)
    assert "RS256" in error_of(response)["message"]


def test_hs256_with_public_key_as_secret_is_rejected(entra):
    claims = jwt.decode(mint_for(entra), options={"verify_signature": False})
    secret = KEY_1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    token = compact(header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest())

    response = call_admin(auth.READ, bearer(token))

    assert_invalid_token(response)
    assert "RS256" in error_of(response)["message"]


def test_token_without_kid_is_rejected(entra):
    response = call_admin(auth.READ, bearer(mint_for(entra, kid=None)))

    assert_invalid_token(response)


# Claims


def test_wrong_audience_is_rejected(entra):
    response = call_admin(auth.READ, bearer(mint_for(entra, aud="api://another-service")))

    assert_invalid_token(response)
    assert "aud" in error_of(response)["message"]


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://sts.windows.net/{OTHER_TENANT}/",
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "https://login.microsoftonline.com/common/v2.0",
        f"https://sts.windows.net/{TENANT}",
        f"http://127.0.0.1/{TENANT}/v2.0",
    ],
)
def test_wrong_issuer_is_rejected(entra, issuer):
    # The v2 issuer must name the configured authority, here the loopback server.
    response = call_admin(auth.READ, bearer(mint(iss=issuer)))

    assert_invalid_token(response)
    assert "tenant" in error_of(response)["message"]


def test_v1_and_v2_issuers_accepted(entra):
    v1 = mint(iss=V1_ISSUER, aud=APP_ID_URI, ver="1.0")
    v2 = mint_for(entra, aud=CLIENT_ID, ver="2.0")

    assert call_admin(auth.READ, bearer(v1)).status_code == 200
    assert call_admin(auth.READ, bearer(v2)).status_code == 200


def test_expired_token_is_rejected(entra):
    now = time.time()
    token = mint_for(entra, nbf=int(now) - 7200, exp=int(now) - 3600)

    response = call_admin(auth.READ, bearer(token))

    assert_invalid_token(response)
    assert "expired" in error_of(response)["message"]


def test_token_not_yet_valid_is_rejected(entra):
    now = time.time()
    token = mint_for(entra, nbf=int(now) + 3600, exp=int(now) + 7200)

    response = call_admin(auth.READ, bearer(token))

    assert_invalid_token(response)
    assert "not valid yet" in error_of(response)["message"]


@pytest.mark.parametrize(
    "claims",
    [
        {"oid": None},
        {"exp": None},
        {"nbf": None},
        {"exp": "tomorrow"},
        {"roles": auth.ADMIN},
        {"roles": [auth.READ, 7]},
        {"aud": None},
    ],
)
def test_malformed_claims_are_rejected(entra, claims):
    response = call_admin(auth.READ, bearer(mint_for(entra, **claims)))

    assert_invalid_token(response)


def test_rejection_log_has_reason_not_token(entra, caplog):
    token = mint_for(entra, aud="api://another-service")

    with caplog.at_level(logging.INFO, logger="licensing.auth"):
        call_admin(auth.READ, bearer(token))

    assert "aud" in caplog.text
    assert "/api/v1/products" in caplog.text
    assert token.split(".")[2] not in caplog.text
    assert "function-key" not in caplog.text


# Lifetime leeway, with the clock injected

NOW = 1_900_000_000.0


def fixed_authenticator(server: KeyServer, clock) -> auth.Authenticator:
    return auth.Authenticator(Settings.from_env(auth_env(server.authority)), clock=clock)


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"exp": int(NOW) - 59}, True),
        ({"exp": int(NOW) - 61}, False),
        ({"nbf": int(NOW) + 59}, True),
        ({"nbf": int(NOW) + 61}, False),
    ],
)
def test_lifetime_leeway_is_60_seconds(key_server, claims, accepted):
    authenticator = fixed_authenticator(key_server, lambda: NOW)
    token = mint_for(key_server, now=NOW, **claims)

    if accepted:
        assert authenticator.authorize(admin_request(bearer(token)), auth.READ).name
    else:
        with pytest.raises(auth.Unauthorized):
            authenticator.authorize(admin_request(bearer(token)), auth.READ)


# Signing keys: cache, refresh, rotation, outage


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_keys_are_fetched_once_and_cached(entra):
    for _ in range(3):
        assert call_admin(auth.READ, bearer(mint_for(entra))).status_code == 200

    assert entra.requests == 1


def test_rotated_key_accepted_after_refresh(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    old = mint_for(key_server, now=NOW)
    rotated = mint_for(key_server, key=KEY_2, kid="key-2", now=NOW)
    authenticator.authorize(admin_request(bearer(old)), auth.READ)
    key_server.jwks = {"keys": [public_jwk(KEY_1, "key-1"), public_jwk(KEY_2, "key-2")]}
    clock.now = NOW + auth.REFRESH_FLOOR_SECONDS

    caller = authenticator.authorize(admin_request(bearer(rotated)), auth.READ)

    assert caller.object_id == USER_OID
    assert key_server.requests == 2


def test_unknown_kids_fetch_at_most_once_per_floor(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    authenticator.authorize(admin_request(bearer(mint_for(key_server, now=NOW))), auth.READ)

    clock.now = NOW + 1
    for number in range(5):
        forged = mint_for(key_server, kid=f"forged-{number}", now=NOW)
        with pytest.raises(auth.Unauthorized):
            authenticator.authorize(admin_request(bearer(forged)), auth.READ)

    assert key_server.requests == 1
    clock.now = NOW + 1 + auth.REFRESH_FLOOR_SECONDS
    with pytest.raises(auth.Unauthorized):
        authenticator.authorize(admin_request(bearer(forged)), auth.READ)
    assert key_server.requests == 2


def test_rotated_key_waits_for_floor(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    authenticator.authorize(admin_request(bearer(mint_for(key_server, now=NOW))), auth.READ)
    rotated = mint_for(key_server, key=KEY_2, kid="key-2", now=NOW)
    key_server.jwks = {"keys": [public_jwk(KEY_2, "key-2")]}

    with pytest.raises(auth.Unauthorized):
        authenticator.authorize(admin_request(bearer(rotated)), auth.READ)
    clock.now = NOW + auth.REFRESH_FLOOR_SECONDS

    assert authenticator.authorize(admin_request(bearer(rotated)), auth.READ).name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_key_endpoint_is_503(monkeypatch):
    clear_auth_env(monkeypatch)
    authority = f"http://127.0.0.1:{free_port()}"
    for name, value in auth_env(authority).items():
        monkeypatch.setenv(name, value)
    auth.reset()
    token = mint(iss=f"{authority}/{TENANT}/v2.0")

    try:
        response = call_admin(auth.READ, bearer(token))
    finally:
        auth.reset()

    assert response.status_code == 503
    assert error_of(response)["code"] == "AUTH_UNAVAILABLE"
    assert response.headers["Retry-After"] == str(auth.RETRY_SECONDS)


@pytest.mark.parametrize(
    ("status", "jwks"),
    [
        (500, {"keys": []}),
        (200, {"keys": "none"}),
        (200, {"keys": [{"kty": "oct", "kid": "key-1", "k": "c2VjcmV0"}]}),
        (200, {"keys": [{"kty": "RSA", "kid": "key-1", "n": "AQAB"}]}),
    ],
)
def test_unusable_key_endpoint_is_503(entra, status, jwks):
    entra.status = status
    entra.jwks = jwks

    response = call_admin(auth.READ, bearer(mint_for(entra)))

    assert response.status_code == 503
    assert error_of(response)["code"] == "AUTH_UNAVAILABLE"


def test_cached_keys_outlive_key_endpoint_outage(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    token = mint_for(key_server, now=NOW, exp=int(NOW) + 2 * auth.KEYS_MAX_AGE_SECONDS)
    authenticator.authorize(admin_request(bearer(token)), auth.READ)
    key_server.status = 500

    clock.now = NOW + auth.KEYS_MAX_AGE_SECONDS
    caller = authenticator.authorize(admin_request(bearer(token)), auth.READ)

    assert caller.object_id == USER_OID
    assert key_server.requests == 2


def test_unknown_kid_during_outage_is_503(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    authenticator.authorize(admin_request(bearer(mint_for(key_server, now=NOW))), auth.READ)
    key_server.status = 500
    clock.now = NOW + auth.REFRESH_FLOOR_SECONDS
    rotated = mint_for(key_server, key=KEY_2, kid="key-2", now=NOW)

    with pytest.raises(auth.AuthUnavailable):
        authenticator.authorize(admin_request(bearer(rotated)), auth.READ)
    with pytest.raises(auth.AuthUnavailable):
        authenticator.authorize(admin_request(bearer(rotated)), auth.READ)

    assert key_server.requests == 2


def test_failed_fetch_is_retried_after_retry_interval(key_server):
    clock = Clock(NOW)
    authenticator = fixed_authenticator(key_server, clock)
    token = mint_for(key_server, now=NOW)
    key_server.status = 500
    with pytest.raises(auth.AuthUnavailable):
        authenticator.authorize(admin_request(bearer(token)), auth.READ)
    key_server.status = 200

    clock.now = NOW + auth.RETRY_SECONDS

    assert authenticator.authorize(admin_request(bearer(token)), auth.READ).name
    assert key_server.requests == 2


def test_injected_fetcher_gets_tenant_keys_url():
    requested = []

    def unreachable(url: str):
        requested.append(url)
        raise TimeoutError("timed out")

    settings = Settings.from_env(auth_env("https://login.example.test"))
    authenticator = auth.Authenticator(settings, fetch=unreachable, clock=lambda: NOW)
    token = mint(now=NOW)

    with pytest.raises(auth.AuthUnavailable):
        authenticator.authorize(admin_request(bearer(token)), auth.READ)
    assert requested == [f"https://login.example.test/{TENANT}/discovery/v2.0/keys"]


# Settings and modes


def test_auth_settings_read():
    settings = Settings.from_env(
        {
            **auth_env("https://login.microsoftonline.com/"),
            "LICENSING_AUTH_TENANT_ID": TENANT.upper(),
        }
    )

    assert settings.auth_tenant_id == TENANT
    assert settings.auth_audiences == (APP_ID_URI, CLIENT_ID)
    assert settings.auth_authority == "https://login.microsoftonline.com"
    assert settings.auth_disabled is False


def test_authority_defaults_to_public_cloud():
    assert Settings.from_env({}).auth_authority == "https://login.microsoftonline.com"


@pytest.mark.parametrize("marker", ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"])
def test_auth_disabled_rejected_in_azure(marker):
    env = {"LICENSING_AUTH_DISABLED": "true", marker: "licensing-prod"}

    with pytest.raises(SettingsError, match=marker):
        Settings.from_env(env)


def test_auth_disabled_in_azure_is_not_configured(monkeypatch):
    clear_auth_env(monkeypatch)
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "0123456789abcdef")
    auth.reset()

    try:
        response = call_admin(auth.READ)
    finally:
        auth.reset()

    assert response.status_code == 503
    assert error_of(response)["code"] == "NOT_CONFIGURED"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LICENSING_AUTH_TENANT_ID": "contoso.onmicrosoft.com"}, "LICENSING_AUTH_TENANT_ID"),
        ({"LICENSING_AUTH_TENANT_ID": TENANT}, "LICENSING_AUTH_AUDIENCE"),
        (
            {"LICENSING_AUTH_TENANT_ID": TENANT, "LICENSING_AUTH_AUDIENCE": 'api://a"b'},
            "LICENSING_AUTH_AUDIENCE",
        ),
        ({"LICENSING_AUTH_DISABLED": "yes"}, "LICENSING_AUTH_DISABLED"),
        ({"LICENSING_AUTH_AUTHORITY": "http://login.example"}, "LICENSING_AUTH_AUTHORITY"),
        ({"LICENSING_AUTH_AUTHORITY": "login.microsoftonline.com"}, "LICENSING_AUTH_AUTHORITY"),
        ({"LICENSING_AUTH_AUTHORITY": "https://[::1"}, "LICENSING_AUTH_AUTHORITY"),
    ],
)
def test_bad_auth_setting_named_in_error(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_auth_disabled_makes_local_developer(auth_disabled, caplog):
    with caplog.at_level(logging.WARNING, logger="licensing.auth"):
        response = call_admin(auth.ADMIN)

    assert response.status_code == 200
    assert body_of(response)["oid"] == auth.LOCAL_DEVELOPER.object_id
    assert auth.ADMIN in body_of(response)["roles"]
    assert "LICENSING_AUTH_DISABLED" in caplog.text


def test_admin_call_without_auth_settings_is_not_configured(no_auth_settings):
    response = call_admin(auth.READ)

    assert response.status_code == 503
    assert error_of(response)["code"] == "NOT_CONFIGURED"
    assert response.headers["Retry-After"]


# The validate rule, through the registered validate function

SERIAL = "5KQ2-77XD-9WMA"


def validate_with(headers: dict | None = None) -> func.HttpResponse:
    body = request_body(SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    return post_validate(body, headers)


def test_validate_accepts_app_token_with_validate_role(demo, entra):
    response = validate_with(bearer(app_token(entra, roles=[auth.VALIDATE])))

    assert response.status_code == 200
    assert "token" in body_of(response)


def test_validate_without_token_is_unauthorized(demo, entra):
    response = validate_with()

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_validate_with_invalid_token_is_unauthorized(demo, entra):
    token = app_token(entra, roles=[auth.VALIDATE], aud="api://another-service")

    assert_invalid_token(validate_with(bearer(token)))


def test_validate_rejects_delegated_token(demo, entra):
    token = mint_for(entra, roles=[auth.VALIDATE], scp="user_impersonation")

    response = validate_with(bearer(token))

    assert response.status_code == 403
    assert error_of(response)["code"] == "FORBIDDEN"


def test_validate_rejects_user_token_without_scp(demo, entra):
    token = app_token(entra, roles=[auth.VALIDATE], idtyp="user")

    response = validate_with(bearer(token))

    assert response.status_code == 403
    assert error_of(response)["code"] == "FORBIDDEN"


def test_validate_needs_validate_role(demo, entra):
    response = validate_with(bearer(app_token(entra, roles=[auth.ADMIN])))

    assert response.status_code == 403
    assert auth.VALIDATE in error_of(response)["message"]


def test_validate_without_auth_settings_needs_no_token(demo, no_auth_settings):
    assert validate_with().status_code == 200


def test_validate_with_auth_disabled_needs_no_token(demo, auth_disabled):
    assert validate_with().status_code == 200
