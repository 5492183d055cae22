"""Entra ID bearer tokens and app roles for the admin API and the validate endpoint.

Access tokens are checked in-process with PyJWT against the configured tenant's
published signing keys: RS256 only, the tenant's v1 or v2 issuer, one of the
configured audiences, ``exp`` and ``nbf`` with a leeway of 60 s. The app roles
are ``Licenses.Read``, ``Licenses.Write`` and ``Licenses.Admin`` for the admin
API (Admin implies Write, Write implies Read) and ``Licenses.Validate`` for the
FinOps environments that call validate with an app-only token.
"""

from __future__ import annotations

import json
import logging
import string
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import azure.functions as func

from .errors import AuthUnavailable, Forbidden, Unauthorized
from .settings import Settings, SettingsError

# PyJWT, and the X.509 modules of cryptography that it loads, is imported where a
# token is checked: a validation with the function key alone never needs it, and
# importing it added about 17 ms to each cold start.
if TYPE_CHECKING:
    import jwt

_LOGGER = logging.getLogger(__name__)

READ = "Licenses.Read"
WRITE = "Licenses.Write"
ADMIN = "Licenses.Admin"
VALIDATE = "Licenses.Validate"

# Each app role with the roles that it grants.
_GRANTS = {
    READ: frozenset({READ}),
    WRITE: frozenset({WRITE, READ}),
    ADMIN: frozenset({ADMIN, WRITE, READ}),
    VALIDATE: frozenset({VALIDATE}),
}

LEEWAY_SECONDS = 60
MAX_TOKEN_CHARS = 16 * 1024
# A compact JWS is three base64url parts joined by dots.
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")

# Entra ID issues v1 tokens with this issuer in the public cloud, whatever
# authority the client signed in with.
# NOTE: national clouds use other v1 issuer hosts, which are not accepted.
V1_ISSUER_HOST = "https://sts.windows.net"

JWKS_TIMEOUT_SECONDS = 5
JWKS_MAX_BYTES = 512 * 1024
# Cached keys are fetched again after a day, or earlier when a token names an
# unknown kid. Unknown kids cause at most one fetch per REFRESH_FLOOR_SECONDS
# (RETRY_SECONDS after a failed fetch), so forged tokens cannot make every
# request fetch.
KEYS_MAX_AGE_SECONDS = 24 * 3600
REFRESH_FLOOR_SECONDS = 300
RETRY_SECONDS = 30


@dataclass(frozen=True)
class Caller:
    """The authenticated caller, recorded in the audit log.

    ``roles`` contains the app roles of the token together with the roles that
    they grant. ``app_only`` is true for a client credentials token.
    """

    object_id: str
    name: str
    roles: frozenset[str]
    app_only: bool


# Every caller when LICENSING_AUTH_DISABLED is true.
LOCAL_DEVELOPER = Caller(
    object_id="00000000-0000-0000-0000-000000000000",
    name="local developer",
    roles=frozenset(_GRANTS),
    app_only=False,
)

JwksFetcher = Callable[[str], Any]


class InvalidToken(Unauthorized):
    """A bearer token that was sent but fails a check (``error="invalid_token"``)."""


def fetch_jwks(url: str) -> Any:
    """GET a JWKS document and decode its JSON.

    Raises OSError when the endpoint cannot be reached or returns an error
    status, and ValueError when the body is too large or not JSON.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT_SECONDS) as response:
        body = response.read(JWKS_MAX_BYTES + 1)

    if len(body) > JWKS_MAX_BYTES:
        raise ValueError(f"the JWKS is larger than {JWKS_MAX_BYTES} bytes")

    return json.loads(body)


class SigningKeys:
    """The tenant's token signing keys by kid, fetched on first use and cached."""

    def __init__(self, url: str, fetch: JwksFetcher, clock: Callable[[], float]) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failed = False

    def get(self, kid: str) -> jwt.PyJWK:
        """Return the key for ``kid``, fetching the JWKS when the cache allows.

        Raises Unauthorized for a kid that the tenant does not publish, and
        AuthUnavailable when the keys cannot be fetched to check it.
        """
        with self._lock:
            now = self._clock()
            if (kid not in self._keys or self._stale(now)) and self._may_fetch(now):
                self._refresh(now)

            key = self._keys.get(kid)
            if key is not None:
                return key

            if self._failed:
                raise AuthUnavailable(retry_after=RETRY_SECONDS)

            raise InvalidToken("The token is signed with an unknown key (kid).")

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= KEYS_MAX_AGE_SECONDS

    def _may_fetch(self, now: float) -> bool:
        if self._attempted_at is None or now < self._attempted_at:
            return True

        floor = RETRY_SECONDS if self._failed else REFRESH_FLOOR_SECONDS
        return now - self._attempted_at >= floor

    def _refresh(self, now: float) -> None:
        """Replace the cached keys. A failed fetch keeps the keys fetched before."""
        self._attempted_at = now
        try:
            keys = _parse_jwks(self._fetch(self.url))
        except (OSError, ValueError) as exc:
            self._failed = True
            _LOGGER.warning("Fetching the Entra ID signing keys from %s failed: %s", self.url, exc)
            return

        self._keys = keys
        self._fetched_at = now
        self._failed = False
        _LOGGER.info("Fetched %d Entra ID signing keys from %s", len(keys), self.url)


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """Return the RSA signature keys of a JWKS by kid, skipping any other key."""
    import jwt

    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys list")

    keys = {}
    for entry in entries:
        if not _is_rsa_signing_key(entry):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue

    if not keys:
        raise ValueError("the JWKS contains no RSA signing key")

    return keys


def _is_rsa_signing_key(entry: Any) -> bool:
    if not isinstance(entry, dict) or entry.get("kty") != "RSA":
        return False

    kid = entry.get("kid")
    usable = entry.get("use", "sig") == "sig" and entry.get("alg", "RS256") == "RS256"
    return usable and isinstance(kid, str) and bool(kid)


class Authenticator:
    """Checks bearer tokens and app roles, in the mode the settings select.

    With LICENSING_AUTH_DISABLED every caller is LOCAL_DEVELOPER. Without a
    tenant, admin calls raise SettingsError (503 NOT_CONFIGURED) and validate
    needs no token. ``clock`` returns Unix seconds for ``exp`` and ``nbf``. It
    is the wall clock by default, not runtime.now, which tests set to license
    dates.
    """

    def __init__(
        self,
        settings: Settings,
        fetch: JwksFetcher = fetch_jwks,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.disabled = settings.auth_disabled
        self.configured = bool(settings.auth_tenant_id) and not self.disabled
        self._clock = clock
        if self.disabled:
            _LOGGER.warning(
                "LICENSING_AUTH_DISABLED is true: Entra ID tokens are not checked and "
                "every caller has all app roles. Use this on a developer machine only."
            )

        tenant = settings.auth_tenant_id
        authority = settings.auth_authority
        self.issuers = (f"{V1_ISSUER_HOST}/{tenant}/", f"{authority}/{tenant}/v2.0")
        self.keys = SigningKeys(f"{authority}/{tenant}/discovery/v2.0/keys", fetch, clock)
        realm = settings.auth_audiences[0] if settings.auth_audiences else ""
        self._challenge = (
            f'Bearer realm="{realm}", '
            f'authorization_uri="{authority}/{tenant}/oauth2/v2.0/authorize"'
        )

    def authorize(self, req: func.HttpRequest, role: str) -> Caller:
        """Return the caller when its token carries ``role`` or a role that grants it.

        Raises Unauthorized (401), Forbidden (403), AuthUnavailable (503), or
        SettingsError when Entra ID is not configured.
        """
        if role not in _GRANTS:
            raise ValueError(f"unknown app role {role!r}")
        if self.disabled:
            return LOCAL_DEVELOPER

        self._require_configuration()
        caller = self._authenticate(req)
        if role not in caller.roles:
            _log_rejection(req, f"caller {caller.object_id} lacks the app role {role}")
            raise Forbidden(f"The app role {role} is required.")

        return caller

    def authorize_validation(self, req: func.HttpRequest) -> Caller | None:
        """Require an app-only token with Licenses.Validate when Entra ID is configured.

        Returns None when Entra ID is not configured, and LOCAL_DEVELOPER when
        auth is disabled: validate then relies on the function key alone.
        """
        if self.disabled:
            return LOCAL_DEVELOPER
        if not self.configured:
            return None

        caller = self._authenticate(req)
        if not caller.app_only:
            _log_rejection(req, f"caller {caller.object_id} sent a delegated token")
            raise Forbidden("Validate needs an app-only token (client credentials flow).")
        if VALIDATE not in caller.roles:
            _log_rejection(req, f"caller {caller.object_id} lacks the app role {VALIDATE}")
            raise Forbidden(f"The app role {VALIDATE} is required.")

        return caller

    def _require_configuration(self) -> None:
        if not self.configured:
            raise SettingsError(
                "Entra ID is not configured: set LICENSING_AUTH_TENANT_ID and "
                "LICENSING_AUTH_AUDIENCE, or LICENSING_AUTH_DISABLED=true on a developer machine"
            )

    def _authenticate(self, req: func.HttpRequest) -> Caller:
        try:
            token = self._bearer_token(req.headers.get("Authorization"))
            return _caller_of(self._verify(token))
        except InvalidToken as exc:
            exc.challenge = f'{self._challenge}, error="invalid_token"'
            _log_rejection(req, exc.message)
            raise
        except Unauthorized as exc:
            exc.challenge = self._challenge
            _log_rejection(req, exc.message)
            raise

    def _bearer_token(self, header: str | None) -> str:
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Send an Entra ID access token as 'Authorization: Bearer <token>'.")

        token = token.strip()
        malformed = not token or not set(token) <= _TOKEN_CHARACTERS
        if malformed or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("The bearer token is malformed.")

        return token

    def _verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a token that passes every check."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("The bearer token is not a JWT.") from exc

        if header.get("alg") != "RS256":
            raise InvalidToken("The token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The token header has no kid.")

        key = self.keys.get(kid)
        claims = self._decode(token, key)
        self._check_lifetime(claims)
        return claims

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        import jwt

        # PyJWT reads its own clock, so exp and nbf are checked by _check_lifetime.
        options = {
            "require": ["exp", "nbf", "iss", "aud"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.settings.auth_audiences,
                issuer=self.issuers,
                options=options,
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("The token signature is invalid.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("The token is not issued for this service (aud).") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("The token is not issued by the configured tenant.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The token has no {exc.claim} claim.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("The token is invalid.") from exc

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        expires, not_before = claims["exp"], claims["nbf"]
        if not (_is_number(expires) and _is_number(not_before)):
            raise InvalidToken("The token's exp and nbf must be numbers.")

        now = self._clock()
        if now > expires + LEEWAY_SECONDS:
            raise InvalidToken("The token has expired.")
        if not_before > now + LEEWAY_SECONDS:
            raise InvalidToken("The token is not valid yet (nbf).")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _caller_of(claims: dict[str, Any]) -> Caller:
    object_id = claims.get("oid")
    if not isinstance(object_id, str) or not object_id:
        raise InvalidToken("The token has no oid claim.")

    granted = claims.get("roles", [])
    if not isinstance(granted, list) or not all(isinstance(r, str) for r in granted):
        raise InvalidToken("The token's roles claim is not a list of strings.")

    roles = frozenset().union(*(_GRANTS.get(role, {role}) for role in granted))
    # A client credentials token has no scp. The optional idtyp claim, when the
    # token carries it, is "app" or "user".
    app_only = "scp" not in claims and claims.get("idtyp", "app") == "app"
    return Caller(object_id, _display_name(claims, object_id), roles, app_only)


def _display_name(claims: dict[str, Any], default: str) -> str:
    for claim in ("name", "preferred_username", "appid", "azp"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value

    return default


def _log_rejection(req: func.HttpRequest, reason: str) -> None:
    # The path only: the query string may carry the function key.
    _LOGGER.warning("Rejected %s %s: %s", req.method, urlsplit(req.url).path, reason)


_lock = threading.Lock()
_authenticator: Authenticator | None = None


def authenticator() -> Authenticator:
    """Return the process-wide Authenticator, built from the settings on first use."""
    global _authenticator
    with _lock:
        if _authenticator is None:
            _authenticator = Authenticator(Settings.from_env())
        return _authenticator


def reset() -> None:
    """Forget the Authenticator and its cached keys; runtime.reset() calls this."""
    global _authenticator
    with _lock:
        _authenticator = None


def authorize(req: func.HttpRequest, role: str) -> Caller:
    """Return the caller of an admin operation that needs ``role``; see Authenticator."""
    return authenticator().authorize(req, role)


def authorize_validation(req: func.HttpRequest) -> Caller | None:
    """Apply the validate rule: an app-only token with Licenses.Validate when configured."""
    return authenticator().authorize_validation(req)
