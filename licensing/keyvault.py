"""Signing keys held in Azure Key Vault, re-read while the service runs.

Two kinds, chosen by LICENSING_SIGNING_KEY_KIND:

- ``secret``: a Key Vault secret holding an unencrypted PEM RSA private key.
  A Key Vault certificate with an exportable key exposes its key as a secret
  of the same name, as PEM or as PKCS#12, and is read the same way. The
  service signs in process. The identity needs Key Vault Secrets User.
- ``key``: a Key Vault RSA key whose private part never leaves the vault.
  Each token costs one Key Vault sign request (RS256 over the SHA-256 digest
  of the signing input). The identity needs Key Vault Crypto User.

The version that signs is the newest enabled version whose activation date
(``not before``, else its creation) has passed and that has not expired. A
version created with a future activation date is staged: the JWKS lists it,
but it signs nothing until that date. Earlier versions stay in the JWKS
while tokens they signed may still be valid.

The azure.identity and azure.keyvault packages are imported only when a
Key Vault source is built, which keeps the cold start of file-key
deployments short. Nothing of a private key is logged or put in an error.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import SignerUnavailable
from .settings import Settings, SettingsError
from .signing import MIN_KEY_BITS, LocalKey, SigningKey, load_private_key, public_jwk

_LOGGER = logging.getLogger(__name__)

# Same budget as the storage client, so a vault that does not respond costs
# a request a few seconds, not a minute of SDK retries.
CLIENT_OPTIONS = {
    "retry_total": 2,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 2,
    "connection_timeout": 3,
    "read_timeout": 10,
}

# Without any key, a worker reads the vault again after this many seconds
# (or the refresh interval, when that is shorter) instead of on every request.
FAILED_START_RETRY_SECONDS = 30

# Clients accept an iat this far from their own clock, so an earlier version
# stays published this much longer.
CLOCK_SKEW_SECONDS = 300

PKCS12_CONTENT_TYPE = "application/x-pkcs12"


class VaultReadError(Exception):
    """Reading from Key Vault failed; the message is safe to log and names no key material."""


@dataclass(frozen=True)
class KeyVersion:
    """One enabled version of a secret or key, with times in Unix seconds."""

    version: str
    active_from: float
    expires: float | None = None


@dataclass(frozen=True)
class Selection:
    """The version that signs now and the other versions whose public keys are published."""

    current: KeyVersion | None
    earlier: tuple[KeyVersion, ...]
    upcoming: tuple[KeyVersion, ...]


def select_versions(versions: Iterable[KeyVersion], now: float, retention: float) -> Selection:
    """Pick the signing version at ``now`` and the versions to keep verifying.

    A version stops signing when a newer one becomes active, or when it
    expires. Its tokens may then be relied on for ``retention`` seconds more,
    so it stays in the selection until then. Versions not yet active are
    returned as upcoming.
    """
    versions = list(versions)
    activated = sorted(
        (v for v in versions if v.active_from <= now), key=lambda v: (v.active_from, v.version)
    )
    usable = [v for v in activated if v.expires is None or v.expires > now]
    current = usable[-1] if usable else None

    earlier = []
    for index, version in enumerate(activated):
        if version == current:
            continue
        stopped = activated[index + 1].active_from if index + 1 < len(activated) else now
        if version.expires is not None:
            stopped = min(stopped, version.expires)
        if stopped + retention > now:
            earlier.append(version)

    upcoming = sorted((v for v in versions if v.active_from > now), key=lambda v: v.active_from)
    return Selection(current, tuple(reversed(earlier)), tuple(upcoming))


@dataclass(frozen=True)
class RemoteKey:
    """An RSA key that Key Vault signs with; ``client`` is bound to one key version."""

    public_key: rsa.RSAPublicKey
    client: Any

    def sign(self, data: bytes) -> bytes:
        """Sign with Key Vault's sign operation; raises SignerUnavailable when it fails.

        Requires the keys/sign permission (Key Vault Crypto User).
        """
        from azure.core.exceptions import AzureError
        from azure.keyvault.keys.crypto import SignatureAlgorithm

        digest = hashlib.sha256(data).digest()
        try:
            signature = self.client.sign(SignatureAlgorithm.rs256, digest).signature
        except (AzureError, ValueError) as exc:
            _LOGGER.warning("Key Vault sign failed: %s", describe(exc))
            raise SignerUnavailable() from exc

        # A signature that the published key does not verify would reach the
        # client as a token it must reject, so it is checked here.
        try:
            self.public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            _LOGGER.error("Key Vault returned a signature that the key's public part rejects")
            raise SignerUnavailable() from exc

        return signature


@dataclass(frozen=True)
class _Loaded:
    version: str
    key: SigningKey
    verification_keys: tuple[rsa.RSAPublicKey, ...]


class VaultKeySource:
    """Base of the Key Vault key sources: the re-read schedule and the version choice.

    The first use reads the vault and every caller waits for it. After
    ``refresh_seconds`` the next caller reads again while the others go on
    signing with the key they have. A failed re-read keeps the current key
    and logs a warning. Subclasses read versions, signing keys and public keys.
    """

    kind = ""

    def __init__(
        self,
        name: str,
        refresh_seconds: float,
        retention_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._refresh_seconds = refresh_seconds
        self._retention_seconds = retention_seconds
        self._clock = clock
        self._loaded: _Loaded | None = None
        self._next_read = 0.0
        self._read_lock = threading.Lock()
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}

    def current(self) -> SigningKey:
        return self._state().key

    def verification_keys(self) -> list[rsa.RSAPublicKey]:
        """Return the signing key first, then earlier versions, then staged ones."""
        return list(self._state().verification_keys)

    @property
    def version(self) -> str | None:
        """The version that signs now, once read."""
        return self._loaded.version if self._loaded else None

    def _state(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None and self._clock() < self._next_read:
            return loaded

        if not self._read_lock.acquire(blocking=loaded is None):
            return loaded
        try:
            # Another caller may have read (or failed to read) while this one waited.
            if self._clock() >= self._next_read:
                self._read()
        finally:
            self._read_lock.release()

        if self._loaded is None:
            raise SignerUnavailable()
        return self._loaded

    def _read(self) -> None:
        now = self._clock()
        previous = self._loaded
        try:
            loaded = self._load(now, previous)
        except VaultReadError as exc:
            if previous is None:
                self._next_read = now + min(self._refresh_seconds, FAILED_START_RETRY_SECONDS)
                _LOGGER.error("Key Vault %s %r cannot be read: %s", self.kind, self.name, exc)
            else:
                self._next_read = now + self._refresh_seconds
                _LOGGER.warning(
                    "Re-reading Key Vault %s %r failed; keeping version %s: %s",
                    self.kind,
                    self.name,
                    previous.version,
                    exc,
                )
            return

        self._loaded = loaded
        self._next_read = now + self._refresh_seconds
        if previous is None or previous.version != loaded.version:
            _LOGGER.info(
                "Signing with %s %r version %s (kid %s); %d key(s) published",
                self.kind,
                self.name,
                loaded.version,
                public_jwk(loaded.key.public_key)["kid"],
                len(loaded.verification_keys),
            )

    def _load(self, now: float, previous: _Loaded | None) -> _Loaded:
        selection = select_versions(self._versions(), now, self._retention_seconds)
        current = selection.current
        if current is None:
            raise VaultReadError("no enabled version is active")

        if previous is not None and previous.version == current.version:
            key = previous.key
        else:
            key = self._signing_key(current.version)

        others = [*selection.earlier, *selection.upcoming]
        published = [key.public_key, *self._public_keys_of(others)]
        return _Loaded(current.version, key, tuple(published))

    def _public_keys_of(self, versions: list[KeyVersion]) -> Iterator[rsa.RSAPublicKey]:
        """Yield the public keys of ``versions``, read once per version and then kept.

        A version that cannot be read is left out with a warning, so that one
        broken old version does not stop the signing key from being used.
        """
        wanted = {v.version for v in versions}
        self._public_keys = {k: v for k, v in self._public_keys.items() if k in wanted}
        for version in versions:
            key = self._public_keys.get(version.version)
            if key is None:
                try:
                    key = self._public_key(version.version)
                except VaultReadError as exc:
                    _LOGGER.warning(
                        "Left %s %r version %s out of the JWKS: %s",
                        self.kind,
                        self.name,
                        version.version,
                        exc,
                    )
                    continue
                self._public_keys[version.version] = key
            yield key

    def _versions(self) -> list[KeyVersion]:
        raise NotImplementedError

    def _signing_key(self, version: str) -> SigningKey:
        raise NotImplementedError

    def _public_key(self, version: str) -> rsa.RSAPublicKey:
        raise NotImplementedError


class KeyVaultSecretSource(VaultKeySource):
    """Signs in process with a PEM (or PKCS#12) private key read from a Key Vault secret.

    ``client`` is an azure.keyvault.secrets.SecretClient. Needs the secrets
    get and list permissions (Key Vault Secrets User).
    """

    kind = "secret"

    def __init__(self, client: Any, name: str, *args, **kwargs) -> None:
        super().__init__(name, *args, **kwargs)
        self._client = client

    def _versions(self) -> list[KeyVersion]:
        with _reading(f"listing the versions of secret {self.name!r}"):
            return _enabled(self._client.list_properties_of_secret_versions(self.name))

    def _signing_key(self, version: str) -> LocalKey:
        return LocalKey(self._private_key(version))

    def _public_key(self, version: str) -> rsa.RSAPublicKey:
        return self._private_key(version).public_key()

    def _private_key(self, version: str) -> rsa.RSAPrivateKey:
        with _reading(f"reading secret {self.name!r} version {version}"):
            secret = self._client.get_secret(self.name, version)

        try:
            return secret_private_key(secret.value or "", secret.properties.content_type)
        except ValueError as exc:
            raise VaultReadError(f"secret {self.name!r} version {version} is {exc}") from None


class KeyVaultKeySource(VaultKeySource):
    """Signs remotely with a non-exportable Key Vault RSA key.

    ``client`` is an azure.keyvault.keys.KeyClient. Needs the keys get, list
    and sign permissions (Key Vault Crypto User).
    """

    kind = "key"

    def __init__(self, client: Any, name: str, *args, **kwargs) -> None:
        super().__init__(name, *args, **kwargs)
        self._client = client

    def _versions(self) -> list[KeyVersion]:
        with _reading(f"listing the versions of key {self.name!r}"):
            return _enabled(self._client.list_properties_of_key_versions(self.name))

    def _signing_key(self, version: str) -> RemoteKey:
        public_key = self._public_key(version)
        client = self._client.get_cryptography_client(self.name, key_version=version)
        return RemoteKey(public_key, client)

    def _public_key(self, version: str) -> rsa.RSAPublicKey:
        with _reading(f"reading key {self.name!r} version {version}"):
            key = self._client.get_key(self.name, version)

        try:
            return jwk_public_key(key.key)
        except ValueError as exc:
            raise VaultReadError(f"key {self.name!r} version {version} is {exc}") from None


def secret_private_key(value: str, content_type: str | None) -> rsa.RSAPrivateKey:
    """Parse a secret's value: PEM, or base64 PKCS#12 without a password.

    Raises ValueError without quoting the value.
    """
    if content_type != PKCS12_CONTENT_TYPE:
        return load_private_key(value.encode("utf-8"))

    try:
        key, _, _ = pkcs12.load_key_and_certificates(base64.b64decode(value), None)
    except ValueError as exc:
        raise ValueError("not a PKCS#12 file without a password") from exc

    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_KEY_BITS} required")
    return key


def jwk_public_key(jwk: Any) -> rsa.RSAPublicKey:
    """Build the RSA public key of a Key Vault JsonWebKey (``n`` and ``e`` as bytes)."""
    key_type = getattr(jwk.kty, "value", jwk.kty)
    if key_type not in ("RSA", "RSA-HSM") or not jwk.n or not jwk.e:
        raise ValueError(f"a {key_type} key, not an RSA key")

    numbers = rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big"))
    key = numbers.public_key()
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"an RSA key of {key.key_size} bits; at least {MIN_KEY_BITS} required")
    return key


def describe(exc: Exception) -> str:
    """Describe an Azure SDK error for the log: its type, HTTP status and service error code."""
    parts = [type(exc).__name__]
    status = getattr(exc, "status_code", None)
    if status is not None:
        parts.append(f"status {status}")
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        parts.append(f"code {code}")
    if status is None:
        message = str(getattr(exc, "message", "") or exc).strip().splitlines()
        if message:
            parts.append(message[0][:200])
    return ", ".join(parts)


@contextmanager
def _reading(action: str) -> Iterator[None]:
    """Translate the SDK's errors into VaultReadError.

    The Key Vault challenge policy raises ValueError for a challenge it rejects.
    """
    from azure.core.exceptions import AzureError

    try:
        yield
    except (AzureError, ValueError) as exc:
        raise VaultReadError(f"{action} failed: {describe(exc)}") from exc


def _enabled(properties: Iterable[Any]) -> list[KeyVersion]:
    """Turn SDK version properties into KeyVersions, leaving disabled versions out."""
    versions = []
    for item in properties:
        if not item.enabled or item.created_on is None:
            continue
        created = item.created_on.timestamp()
        active_from = max(created, item.not_before.timestamp()) if item.not_before else created
        expires = item.expires_on.timestamp() if item.expires_on else None
        versions.append(KeyVersion(item.version, active_from, expires))
    return versions


def default_credential(client_id: str | None = None) -> Any:
    """Build DefaultAzureCredential, for a user-assigned managed identity when ``client_id`` is set."""
    from azure.identity import DefaultAzureCredential

    if client_id:
        return DefaultAzureCredential(managed_identity_client_id=client_id)
    return DefaultAzureCredential()


def vault_key_source(
    settings: Settings,
    credential: Any = None,
    clock: Callable[[], float] = time.time,
    **client_options: Any,
) -> VaultKeySource:
    """Build the Key Vault key source of ``settings``; no request is sent until first use.

    ``credential`` defaults to DefaultAzureCredential; ``client_options`` go
    to the SDK client (tests pass a CA file and a loopback vault).
    """
    if not settings.key_vault_url or not settings.signing_key_name:
        raise SettingsError("Set LICENSING_KEY_VAULT_URL and LICENSING_SIGNING_KEY_NAME")

    if credential is None:
        credential = default_credential(settings.key_vault_client_id)
    options = {**CLIENT_OPTIONS, **client_options}
    refresh = settings.signing_key_refresh_seconds
    retention = settings.token_lifetime_hours * 3600 + refresh + CLOCK_SKEW_SECONDS

    if settings.signing_key_kind == "key":
        from azure.keyvault.keys import KeyClient

        client = KeyClient(settings.key_vault_url, credential, **options)
        return KeyVaultKeySource(client, settings.signing_key_name, refresh, retention, clock)

    from azure.keyvault.secrets import SecretClient

    client = SecretClient(settings.key_vault_url, credential, **options)
    return KeyVaultSecretSource(client, settings.signing_key_name, refresh, retention, clock)
