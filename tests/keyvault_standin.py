"""A Key Vault stand-in on loopback for the real azure-keyvault-secrets and -keys clients.

It serves HTTPS with a certificate made for the test, answers a request
without a bearer token with Key Vault's 401 challenge, and implements the
data-plane operations the key sources call, in the shapes of the Key Vault
REST API (api-version 7.x and 2025-07-01): get secret, get secret versions,
get key, get key versions and sign.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ACCESS_TOKEN = "test-access-token"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", '
    'resource="https://vault.azure.net"'
)
# Small pages, so that the clients follow nextLink.
PAGE_SIZE = 2


class FixedTokenCredential:
    """A token credential that returns a fixed token and records what was requested."""

    def __init__(self) -> None:
        self.requests: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(self, *scopes: str, tenant_id: str | None = None, **kwargs) -> AccessToken:
        self.requests.append((scopes, tenant_id))
        return AccessToken(ACCESS_TOKEN, int(time.time()) + 3600)


def forbid_default_credentials(monkeypatch) -> None:
    """Make building DefaultAzureCredential or ManagedIdentityCredential fail the test.

    Either could reach the instance metadata address or a real host; tests
    pass an explicit credential instead.
    """

    def forbidden(*args, **kwargs):
        raise AssertionError("tests must pass an explicit credential")

    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", forbidden)
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", forbidden)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


@dataclass
class Version:
    id: str
    created: int
    enabled: bool = True
    not_before: int | None = None
    value: str = ""
    content_type: str | None = None
    private_key: rsa.RSAPrivateKey | None = None

    def attributes(self) -> dict:
        attributes = {
            "enabled": self.enabled,
            "created": self.created,
            "updated": self.created,
            "recoveryLevel": "Recoverable+Purgeable",
        }
        if self.not_before is not None:
            attributes["nbf"] = self.not_before
        return attributes


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    authorized: bool


@dataclass
class VaultState:
    secrets: dict[str, list[Version]] = field(default_factory=dict)
    keys: dict[str, list[Version]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # When set, every authorized request fails with this HTTP status.
    failure_status: int | None = None


class KeyVaultStandIn:
    """An HTTPS server on 127.0.0.1 that behaves like one Key Vault."""

    def __init__(self, workspace: Path) -> None:
        self.state = VaultState()
        self.ca_file, context = _tls_context(workspace)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def add_secret(self, name: str, value: str, created: int, **attributes) -> str:
        """Add a secret version and return its version id."""
        version = Version(uuid.uuid4().hex, created, value=value, **attributes)
        self.state.secrets.setdefault(name, []).append(version)
        return version.id

    def add_key(self, name: str, private_key: rsa.RSAPrivateKey, created: int, **attributes) -> str:
        version = Version(uuid.uuid4().hex, created, private_key=private_key, **attributes)
        self.state.keys.setdefault(name, []).append(version)
        return version.id

    def calls(self, method: str, fragment: str) -> list[Recorded]:
        """Return the authorized requests of ``method`` whose path contains ``fragment``."""
        return [
            r
            for r in self.state.requests
            if r.authorized and r.method == method and fragment in r.path
        ]


def _handler(vault: KeyVaultStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            authorized = self.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"
            vault.state.requests.append(Recorded(method, parts.path, query, authorized))

            if not authorized:
                self._send(401, {"error": {"code": "Unauthorized"}}, CHALLENGE)
                return
            if "api-version" not in query:
                self._error(400, "BadParameter", "api-version is required")
                return
            if vault.state.failure_status:
                self._error(vault.state.failure_status, "Forbidden", "Access denied")
                return

            segments = [s for s in parts.path.split("/") if s]
            status, answer = _route(vault, method, segments, query, body)
            self._send(status, answer)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error": {"code": code, "message": message}})

        def _send(self, status: int, body: dict, challenge: str | None = None) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if challenge:
                self.send_header("WWW-Authenticate", challenge)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _route(vault: KeyVaultStandIn, method: str, segments: list[str], query: dict, body: bytes):
    if len(segments) < 2 or segments[0] not in ("secrets", "keys"):
        return 404, {"error": {"code": "NotFound", "message": "no such operation"}}

    collection, name, rest = segments[0], segments[1], segments[2:]
    store = vault.state.secrets if collection == "secrets" else vault.state.keys
    versions = store.get(name)
    if not versions:
        code = "SecretNotFound" if collection == "secrets" else "KeyNotFound"
        return 404, {"error": {"code": code, "message": f"{name} not found"}}

    if method == "GET" and rest == ["versions"]:
        return 200, _versions_page(vault, collection, name, versions, query)

    version = _find(versions, rest[0] if rest else "")
    if version is None:
        return 404, {"error": {"code": "NotFound", "message": "version not found"}}
    if not version.enabled:
        message = f"Operation is not allowed on a disabled {collection[:-1]}."
        return 403, {"error": {"code": "Forbidden", "message": message}}

    url = f"{vault.url}/{collection}/{name}/{version.id}"
    if method == "GET" and len(rest) <= 1:
        return 200, _secret_bundle(url, version) if collection == "secrets" else _key_bundle(
            url, version
        )
    if method == "POST" and collection == "keys" and rest[1:] == ["sign"]:
        return _sign(url, version, body)

    return 405, {"error": {"code": "BadRequest", "message": "unsupported operation"}}


def _find(versions: list[Version], version_id: str) -> Version | None:
    if not version_id:
        return max(versions, key=lambda v: v.created)
    return next((v for v in versions if v.id == version_id), None)


def _versions_page(vault, collection: str, name: str, versions: list[Version], query) -> dict:
    start = int(query.get("$skiptoken", ["0"])[0])
    page = versions[start : start + PAGE_SIZE]
    id_name = "id" if collection == "secrets" else "kid"
    items = [
        {id_name: f"{vault.url}/{collection}/{name}/{v.id}", "attributes": v.attributes()}
        for v in page
    ]
    next_link = None
    if start + PAGE_SIZE < len(versions):
        api_version = query["api-version"][0]
        next_link = (
            f"{vault.url}/{collection}/{name}/versions?api-version={api_version}"
            f"&$skiptoken={start + PAGE_SIZE}"
        )
    return {"value": items, "nextLink": next_link}


def _secret_bundle(url: str, version: Version) -> dict:
    bundle = {"value": version.value, "id": url, "attributes": version.attributes()}
    if version.content_type:
        bundle["contentType"] = version.content_type
    return bundle


def _key_bundle(url: str, version: Version) -> dict:
    numbers = version.private_key.public_key().public_numbers()
    return {
        "key": {
            "kid": url,
            "kty": "RSA",
            "key_ops": ["sign", "verify"],
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        },
        "attributes": {**version.attributes(), "exportable": False},
    }


def _sign(url: str, version: Version, body: bytes) -> tuple[int, dict]:
    request = json.loads(body)
    digest = b64url_decode(request["value"])
    if request.get("alg") != "RS256" or len(digest) != 32:
        return 400, {"error": {"code": "BadParameter", "message": "RS256 takes a SHA-256 digest"}}

    signature = version.private_key.sign(
        digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
    )
    return 200, {"kid": url, "value": b64url(signature)}


def _tls_context(workspace: Path) -> tuple[str, ssl.SSLContext]:
    """Make a CA and a server certificate for 127.0.0.1; return the CA file and server context."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Key Vault stand-in test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = workspace / "vault-ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file = workspace / "vault-server.pem"
    cert_file.write_bytes(
        server_cert.public_bytes(serialization.Encoding.PEM) + pem_of(server_key).encode("ascii")
    )

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file)
    return str(ca_file), context
