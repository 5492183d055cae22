"""Settings read from environment variables (app settings in Azure)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Every environment variable the service reads, with its meaning. The README's
# settings table and local.settings.sample.json list the same names.
SETTINGS = {
    "LICENSING_TABLES_CONNECTION": "storage connection string",
    "LICENSING_TABLES_ENDPOINT": "table endpoint used with a managed identity",
    "LICENSING_TABLE_PREFIX": "prefix of every table name",
    "LICENSING_SIGNING_KEY_FILE": "PEM private key file for local development",
    "LICENSING_KEY_VAULT_URL": "Key Vault holding the signing key",
    "LICENSING_SIGNING_KEY_NAME": "name of the signing key secret or key in Key Vault",
    "LICENSING_SIGNING_KEY_KIND": "secret (PEM private key) or key (signed in Key Vault)",
    "LICENSING_SIGNING_KEY_REFRESH_SECONDS": "seconds between reads of the Key Vault key",
    "LICENSING_KEY_VAULT_CLIENT_ID": "client id of a user-assigned identity for Key Vault",
    "LICENSING_ISSUER": "iss claim of every token",
    "LICENSING_TIME_ZONE": "IANA time zone of license dates",
    "LICENSING_TOKEN_LIFETIME_HOURS": "hours a token may be relied on offline",
    "LICENSING_RECHECK_HOURS": "hours after which a client asks again",
    "LICENSING_CATALOG_CACHE_SECONDS": "lifetime of the cached product catalog",
    "LICENSING_RATE_LIMIT_SERIAL_PER_HOUR": "validations allowed per serial number per hour",
    "LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE": "validations allowed per client address per minute",
    "LICENSING_CORS_ORIGINS": "browser origins allowed to call the API",
    "LICENSING_AUTH_TENANT_ID": "Entra tenant that issues admin tokens",
    "LICENSING_AUTH_AUDIENCE": "audience of admin tokens",
    "LICENSING_AUTH_DISABLED": "true turns Entra checks off locally",
    "LICENSING_AUTH_AUTHORITY": "Entra ID authority URL; tests use a loopback server",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "telemetry destination",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true lets the Functions worker configure telemetry",
}

# Settings with no value in Azure, which infra/ leaves out of the app settings. The
# Azure storage account has shared keys off, so a connection string cannot work there
# and LICENSING_TABLES_ENDPOINT is used instead. The signing key comes from Key Vault,
# not a file. The service rejects LICENSING_AUTH_DISABLED in Azure.
LOCAL_ONLY = frozenset(
    {"LICENSING_TABLES_CONNECTION", "LICENSING_SIGNING_KEY_FILE", "LICENSING_AUTH_DISABLED"}
)


DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

# App Service and Azure Functions set these on every instance in Azure, and
# neither is set on a developer machine.
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    tables_connection: str | None
    tables_endpoint: str | None
    table_prefix: str
    signing_key_file: str | None
    key_vault_url: str | None
    signing_key_name: str | None
    issuer: str
    time_zone: ZoneInfo
    token_lifetime_hours: int
    recheck_hours: int
    catalog_cache_seconds: float
    rate_limit_serial_per_hour: int
    rate_limit_client_per_minute: int
    signing_key_kind: str = "secret"
    signing_key_refresh_seconds: int = 300
    key_vault_client_id: str | None = None
    auth_tenant_id: str | None = None
    auth_audiences: tuple[str, ...] = ()
    auth_disabled: bool = False
    auth_authority: str = DEFAULT_AUTHORITY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raises SettingsError naming a bad value."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        prefix = get("LICENSING_TABLE_PREFIX") or ""
        if prefix and not (prefix.isascii() and prefix.isalnum() and prefix[0].isalpha()):
            raise SettingsError(
                f"LICENSING_TABLE_PREFIX {prefix!r} is invalid: use letters and "
                "digits, starting with a letter"
            )

        # A year at most, so exp stays a sane timestamp; a client asks again
        # before the token it keeps expires.
        lifetime = _positive_int(env, "LICENSING_TOKEN_LIFETIME_HOURS", 168, maximum=8784)
        recheck = _positive_int(env, "LICENSING_RECHECK_HOURS", 24, maximum=8784)
        if recheck > lifetime:
            raise SettingsError(
                f"LICENSING_RECHECK_HOURS ({recheck}) must not exceed "
                f"LICENSING_TOKEN_LIFETIME_HOURS ({lifetime})"
            )

        return cls(
            tables_connection=get("LICENSING_TABLES_CONNECTION"),
            tables_endpoint=get("LICENSING_TABLES_ENDPOINT"),
            table_prefix=prefix,
            signing_key_file=get("LICENSING_SIGNING_KEY_FILE"),
            key_vault_url=get("LICENSING_KEY_VAULT_URL"),
            signing_key_name=get("LICENSING_SIGNING_KEY_NAME"),
            issuer=get("LICENSING_ISSUER") or "urn:licensing:local",
            time_zone=_zone(get("LICENSING_TIME_ZONE") or "UTC"),
            token_lifetime_hours=lifetime,
            recheck_hours=recheck,
            catalog_cache_seconds=_positive_int(env, "LICENSING_CATALOG_CACHE_SECONDS", 60),
            rate_limit_serial_per_hour=_limit(env, "LICENSING_RATE_LIMIT_SERIAL_PER_HOUR", 30),
            rate_limit_client_per_minute=_limit(env, "LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE", 600),
            **_key_vault_settings(env, get),
            **_auth_settings(get),
        )


def _limit(env: Mapping[str, str], name: str, default: int) -> int:
    """Read a rate limit; 0 turns it off."""
    if env.get(name, "").strip() == "0":
        return 0

    return _positive_int(env, name, default)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"LICENSING_TIME_ZONE {name!r} is not an IANA time zone name") from exc


def _key_vault_settings(env: Mapping[str, str], get: Callable[[str], str | None]) -> dict:
    """Read the Key Vault signing key settings; the vault URL must be https."""
    url = get("LICENSING_KEY_VAULT_URL")
    if url and not _is_https_url(url):
        raise SettingsError(
            f"LICENSING_KEY_VAULT_URL {url!r} is invalid: use the vault URI, such as "
            "https://my-vault.vault.azure.net"
        )
    if url and not get("LICENSING_SIGNING_KEY_NAME"):
        raise SettingsError("LICENSING_KEY_VAULT_URL is set: also set LICENSING_SIGNING_KEY_NAME")

    kind = (get("LICENSING_SIGNING_KEY_KIND") or "secret").lower()
    if kind not in ("secret", "key"):
        raise SettingsError(f"LICENSING_SIGNING_KEY_KIND {kind!r} is invalid: use secret or key")

    return {
        "signing_key_kind": kind,
        "signing_key_refresh_seconds": _positive_int(
            env, "LICENSING_SIGNING_KEY_REFRESH_SECONDS", 300
        ),
        "key_vault_client_id": get("LICENSING_KEY_VAULT_CLIENT_ID"),
    }


def _is_https_url(raw: str) -> bool:
    try:
        parts = urlsplit(raw)
        return parts.scheme == "https" and bool(parts.hostname)
    except ValueError:
        return False


def _positive_int(env: Mapping[str, str], name: str, default: int, maximum: int = 1_000_000) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default

    valid = raw.isascii() and raw.isdigit() and 0 < int(raw) <= maximum
    if not valid:
        raise SettingsError(f"{name} {raw!r} is invalid: use a whole number from 1 to {maximum}")

    return int(raw)


def _auth_settings(get: Callable[[str], str | None]) -> dict:
    """Read the Entra ID settings. Turning auth off is rejected when running in Azure."""
    disabled = _flag(get("LICENSING_AUTH_DISABLED"), "LICENSING_AUTH_DISABLED")
    markers = [name for name in AZURE_MARKERS if get(name)]
    if disabled and markers:
        raise SettingsError(
            f"LICENSING_AUTH_DISABLED=true is not allowed in Azure ({markers[0]} is set): "
            "set LICENSING_AUTH_TENANT_ID and LICENSING_AUTH_AUDIENCE instead"
        )

    tenant_id = _tenant_id(get("LICENSING_AUTH_TENANT_ID"))
    audiences = tuple(a.strip() for a in (get("LICENSING_AUTH_AUDIENCE") or "").split(","))
    audiences = tuple(a for a in audiences if a)
    if tenant_id and not disabled and not audiences:
        raise SettingsError("LICENSING_AUTH_TENANT_ID is set: also set LICENSING_AUTH_AUDIENCE")
    if any('"' in a or " " in a or not a.isprintable() for a in audiences):
        raise SettingsError(
            "LICENSING_AUTH_AUDIENCE is invalid: use the App ID URI or client id, "
            "several separated by commas"
        )

    return {
        "auth_tenant_id": tenant_id,
        "auth_audiences": audiences,
        "auth_disabled": disabled,
        "auth_authority": _authority(get("LICENSING_AUTH_AUTHORITY") or DEFAULT_AUTHORITY),
    }


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True

    raise SettingsError(f"{name} {raw!r} is invalid: use true or false")


def _tenant_id(raw: str | None) -> str | None:
    """Return the tenant GUID in lower case; Entra ID issuers name the tenant by GUID."""
    if raw is None:
        return None

    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise SettingsError(
            f"LICENSING_AUTH_TENANT_ID {raw!r} is invalid: use the tenant id (a GUID), "
            "not a domain name"
        ) from exc


def _authority(raw: str) -> str:
    """Return the authority without a trailing slash. Plain http is allowed only on loopback."""
    if not _is_authority_url(raw):
        raise SettingsError(
            f"LICENSING_AUTH_AUTHORITY {raw!r} is invalid: use an https URL such as "
            f"{DEFAULT_AUTHORITY}"
        )

    return raw.rstrip("/")


def _is_authority_url(raw: str) -> bool:
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError:
        return False

    if not host or parts.query or parts.fragment:
        return False

    loopback = host in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)
