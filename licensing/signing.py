"""RS256 signing of validation answers as compact JWS (RFC 7515).

The signer takes its key from a KeySource, so that the key can live in a PEM
file (local development) or in Azure Key Vault without changing callers. The
``kid`` of every token is the RFC 7638 thumbprint of the public key, so a
client can pick the right pinned key after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import SignerUnavailable

_LOGGER = logging.getLogger(__name__)

MIN_KEY_BITS = 2048


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _uint(value: int) -> str:
    """Encode a positive integer as base64url of its unsigned big-endian bytes."""
    return b64url(_unsigned_bytes(value))


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Return the JWK of an RSA public key, with its RFC 7638 thumbprint as kid."""
    numbers = public_key.public_numbers()
    jwk = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    return {**jwk, "kid": thumbprint(jwk), "alg": "RS256", "use": "sig"}


def public_pem(public_key: rsa.RSAPublicKey) -> str:
    """Return the SubjectPublicKeyInfo PEM of a public key."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def rsa_key_value_xml(public_key: rsa.RSAPublicKey) -> str:
    """Return the public key as the RSAKeyValue XML that .NET's RSA.FromXmlString reads.

    Modulus and Exponent are standard base64 (with padding) of the unsigned
    big-endian bytes, without a leading zero byte.
    """
    numbers = public_key.public_numbers()
    modulus = base64.b64encode(_unsigned_bytes(numbers.n)).decode("ascii")
    exponent = base64.b64encode(_unsigned_bytes(numbers.e)).decode("ascii")
    return f"<RSAKeyValue><Modulus>{modulus}</Modulus><Exponent>{exponent}</Exponent></RSAKeyValue>"


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """Read an RSA public key from a PEM public or private key; raises ValueError.

    The error message quotes none of the file's content.
    """
    if b"PRIVATE KEY" in pem:
        return load_private_key(pem).public_key()

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public or private key") from exc

    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    required = {name: jwk[name] for name in ("e", "kty", "n")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


class SigningKey(Protocol):
    """A private key that signs; its private part may never leave its store."""

    @property
    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, data: bytes) -> bytes:
        """Return the RSASSA-PKCS1-v1_5 SHA-256 signature of ``data``."""
        ...


class KeySource(Protocol):
    def current(self) -> SigningKey:
        """Return the key that signs now; raises SignerUnavailable."""
        ...

    def verification_keys(self) -> list[rsa.RSAPublicKey]:
        """Return the public keys whose tokens may still be in use, current first."""
        ...


@dataclass(frozen=True)
class LocalKey:
    """A private key held in this process."""

    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """Parse an unencrypted PEM RSA private key of at least 2048 bits.

    Raises ValueError without quoting any of the key's content.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc

    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_KEY_BITS} required")

    return key


class PemFileKeySource:
    """Reads the signing key from a PEM file once, on first use, and caches it."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._key: LocalKey | None = None
        self._lock = threading.Lock()

    def current(self) -> LocalKey:
        with self._lock:
            if self._key is None:
                self._key = LocalKey(self._load())
            return self._key

    def verification_keys(self) -> list[rsa.RSAPublicKey]:
        return [self.current().public_key]

    def _load(self) -> rsa.RSAPrivateKey:
        try:
            pem = self._path.read_bytes()
        except OSError as exc:
            _LOGGER.error("Signing key file %s cannot be read: %s", self._path, exc.strerror)
            raise SignerUnavailable() from exc

        try:
            return load_private_key(pem)
        except ValueError as exc:
            # The reason names no part of the key; the file path stays in the log.
            _LOGGER.error("Signing key file %s is %s", self._path, exc)
            raise SignerUnavailable(f"The signing key is unusable: {exc}.") from exc


class StaticKeySource:
    """Holds one private key in memory: for test vectors and tools, not for the service."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = LocalKey(private_key)

    def current(self) -> LocalKey:
        return self._key

    def verification_keys(self) -> list[rsa.RSAPublicKey]:
        return [self._key.public_key]


class Signer:
    """Produces compact RS256 JWS tokens over JSON claims."""

    def __init__(self, source: KeySource) -> None:
        self._source = source

    def sign(self, claims: dict) -> str:
        key = self._source.current()
        header = {"alg": "RS256", "typ": "JWT", "kid": public_jwk(key.public_key)["kid"]}
        signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
        return f"{signing_input.decode('ascii')}.{b64url(key.sign(signing_input))}"

    def jwks(self) -> dict:
        return {"keys": [public_jwk(key) for key in self._source.verification_keys()]}


def _segment(value: dict) -> str:
    # ensure_ascii keeps the signed bytes plain ASCII, whatever the names hold.
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii"))


def generate_key(path: str | Path, bits: int = 3072) -> bool:
    """Write a new PEM private key readable only by its owner, unless one exists.

    Returns True when a key was written.
    """
    path = Path(path)
    if path.exists():
        return False

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)

    return True
