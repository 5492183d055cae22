"""The services one worker process builds once and shares between requests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from . import auth
from .limits import RateLimiter
from .settings import Settings, SettingsError
from .signing import KeySource, PemFileKeySource, Signer
from .storage import Store
from .validation import CatalogCache, Validator

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    signer: Signer
    validator: Validator
    serial_limit: RateLimiter
    client_limit: RateLimiter


_lock = threading.Lock()
_services: Services | None = None


def services(prepare_tables: bool = True) -> Services:
    """Build the services on first use; a failure is retried on the next call.

    With ``prepare_tables``, also create the tables unless this process did.
    """
    global _services
    with _lock:
        if _services is None:
            _services = build(Settings.from_env())
        built = _services

    if prepare_tables:
        built.store.ensure_tables()
    return built


def reset() -> None:
    """Forget the services, so that the next call reads the settings again."""
    global _services
    with _lock:
        _services = None
    auth.reset()


def now() -> datetime:
    """Return the current instant, aware UTC. Tests replace this clock."""
    return datetime.now(UTC)


def build(settings: Settings, **store_options) -> Services:
    """Build the services; ``store_options`` go to the Table Storage client."""
    store = Store.from_settings(settings, **store_options)
    signer = Signer(key_source(settings))
    catalog = CatalogCache(store, settings.catalog_cache_seconds)
    validator = Validator(store, catalog, signer, settings)
    serial_limit = RateLimiter(settings.rate_limit_serial_per_hour, 3600)
    client_limit = RateLimiter(settings.rate_limit_client_per_minute, 60)
    _LOGGER.info("Services ready (table prefix %r)", settings.table_prefix)
    return Services(settings, store, signer, validator, serial_limit, client_limit)


def key_source(settings: Settings, credential=None, **vault_options) -> KeySource:
    """Pick the signing key source: Key Vault when LICENSING_KEY_VAULT_URL is set, else the file.

    ``credential`` and ``vault_options`` go to the Key Vault clients; tests pass them.
    """
    if settings.key_vault_url:
        # Imported here: the Key Vault module loads the Azure SDK only when used.
        from .keyvault import vault_key_source

        return vault_key_source(settings, credential, **vault_options)

    if settings.signing_key_file:
        return PemFileKeySource(settings.signing_key_file)

    raise SettingsError(
        "Set LICENSING_KEY_VAULT_URL and LICENSING_SIGNING_KEY_NAME, or "
        "LICENSING_SIGNING_KEY_FILE for local development"
    )
