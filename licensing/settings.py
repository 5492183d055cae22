"""Settings read from environment variables (app settings in Azure)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Every environment variable the service reads, with its meaning. The README's
# settings table and local.settings.sample.json list the same names.
SETTINGS = {
    "LICENSING_TABLES_CONNECTION": "storage connection string",
    "LICENSING_TABLES_ENDPOINT": "table endpoint used with a managed identity",
    "LICENSING_TABLE_PREFIX": "prefix of every table name",
    "LICENSING_SIGNING_KEY_FILE": "PEM private key file for local development",
    "LICENSING_KEY_VAULT_URL": "Key Vault holding the signing key",
    "LICENSING_SIGNING_KEY_NAME": "name of the signing key secret",
    "LICENSING_ISSUER": "iss claim of every token",
    "LICENSING_TIME_ZONE": "IANA time zone of license dates",
    "LICENSING_TOKEN_LIFETIME_HOURS": "hours a token may be relied on offline",
    "LICENSING_RECHECK_HOURS": "hours after which a client asks again",
    "LICENSING_CATALOG_CACHE_SECONDS": "lifetime of the cached product catalog",
    "LICENSING_AUTH_TENANT_ID": "Entra tenant that issues admin tokens",
    "LICENSING_AUTH_AUDIENCE": "audience of admin tokens",
    "LICENSING_AUTH_DISABLED": "true turns Entra checks off locally",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "telemetry destination",
}


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

        return cls(
            tables_connection=get("LICENSING_TABLES_CONNECTION"),
            tables_endpoint=get("LICENSING_TABLES_ENDPOINT"),
            table_prefix=prefix,
            signing_key_file=get("LICENSING_SIGNING_KEY_FILE"),
            key_vault_url=get("LICENSING_KEY_VAULT_URL"),
            signing_key_name=get("LICENSING_SIGNING_KEY_NAME"),
            issuer=get("LICENSING_ISSUER") or "urn:licensing:local",
            time_zone=_zone(get("LICENSING_TIME_ZONE") or "UTC"),
            token_lifetime_hours=_positive_int(env, "LICENSING_TOKEN_LIFETIME_HOURS", 168),
            recheck_hours=_positive_int(env, "LICENSING_RECHECK_HOURS", 24),
            catalog_cache_seconds=_positive_int(env, "LICENSING_CATALOG_CACHE_SECONDS", 60),
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"LICENSING_TIME_ZONE {name!r} is not an IANA time zone name") from exc


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default

    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} {raw!r} is invalid: use a positive whole number")

    return int(raw)
