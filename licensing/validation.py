"""The validation service: decides, records and signs one validation request."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime

from . import keys
from .decisions import Decision, automatic_license, decide, local_date
from .models import SYSTEM_AUTHOR, Catalog, Customer, Environment, License, ReportedProduct
from .protocol import ValidationRequest
from .settings import Settings
from .signing import Signer
from .storage import Store

_LOGGER = logging.getLogger(__name__)


class CatalogCache:
    """The product catalog, read again once it is older than ``lifetime`` seconds.

    Products change rarely, so a validation normally reads none of them from
    storage. A product change reaches validations within ``lifetime``.
    """

    def __init__(
        self,
        store: Store,
        lifetime: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._loaded_at = 0.0

    def get(self) -> Catalog:
        with self._lock:
            age = self._clock() - self._loaded_at
            if self._catalog is None or age >= self._lifetime:
                self._catalog = self._store.load_catalog()
                self._loaded_at = self._clock()
            return self._catalog


class Validator:
    def __init__(self, store: Store, catalog: CatalogCache, signer: Signer, settings: Settings):
        self._store = store
        self._catalog = catalog
        self._signer = signer
        self._settings = settings

    def validate(self, request: ValidationRequest, now: datetime) -> tuple[str, list[Decision]]:
        """Answer a request at ``now`` (aware UTC) with a signed token.

        Returns the compact JWS and the decisions it carries. The validation
        is recorded on the environment (an unknown serial becomes an
        unregistered environment) only once the token is signed.
        """
        known = self._store.get_environment(request.serial_number, request.tenant)
        environment = known
        customer, licenses, catalog = None, {}, Catalog({}, {})
        if environment is not None and environment.registered and environment.active:
            catalog = self._catalog.get()
            customer, licenses = self._store.get_customer(environment.customer_id)
            if customer is None:
                _LOGGER.warning(
                    "Serial %s is registered to missing customer %s; answered as unregistered",
                    request.serial_number,
                    environment.customer_id,
                )
                environment = None

        today = local_date(now, self._settings.time_zone)
        decisions, created = _decide_all(request, environment, customer, catalog, licenses, today)
        claims = self._claims(request, environment, customer, decisions, catalog, now)
        token = self._signer.sign(claims)

        # Written only after signing, so that a signer failure leaves storage as it was.
        if self._store.add_licenses(created):
            _audit_automatic(self._store, created, now)
        self._store.record_validation(known, _sighting(request), _reported(request, now), now)
        return token, decisions

    def _claims(
        self,
        request: ValidationRequest,
        environment: Environment | None,
        customer: Customer | None,
        decisions: list[Decision],
        catalog: Catalog,
        now: datetime,
    ) -> dict:
        issued = int(now.timestamp())
        hour = 3600
        return {
            "iss": self._settings.issuer,
            "sub": request.serial_number,
            "tenant": request.tenant,
            "nonce": request.nonce,
            "iat": issued,
            "exp": issued + self._settings.token_lifetime_hours * hour,
            "recheckAfter": issued + self._settings.recheck_hours * hour,
            "jti": str(uuid.uuid4()),
            "environment": _environment_claim(environment, customer),
            "products": [
                _decision_claim(decision, _publisher_name(catalog, decision))
                for decision in decisions
            ],
        }


def _audit_automatic(store: Store, licenses: list[License], now: datetime) -> None:
    """Record the licenses that disable license control created, by ``system``."""
    # Imported here: this runs once per customer and product, never on the usual path.
    from .admin import audit
    from .admin.resources import LICENSES

    author = audit.Author(object_id=SYSTEM_AUTHOR, name=SYSTEM_AUTHOR)
    for license in licenses:
        after = LICENSES.render(license)
        identity = LICENSES.identify(license)
        table = store.table("Audit")
        audit.record(table, author, "create", LICENSES.kind, identity, None, after, now)


def _publisher_name(catalog: Catalog, decision: Decision) -> str:
    publisher = catalog.publishers.get(decision.publisher_id)
    return publisher.name if publisher and decision.product else ""


def _decide_all(
    request: ValidationRequest,
    environment: Environment | None,
    customer: Customer | None,
    catalog: Catalog,
    licenses: dict[str, License],
    today: date,
) -> tuple[list[Decision], list[License]]:
    """Decide every product; also return the licenses disable license control creates."""
    created: list[License] = []
    decisions = []
    for item in request.products:
        product = catalog.product(item.publisher_id, item.product_name)
        license = licenses.get(keys.product_key(item.publisher_id, item.product_name))
        automatic = product and product.active and product.disable_license_control
        if license is None and automatic and customer and environment and environment.active:
            license = automatic_license(customer, product)
            created.append(license)

        decisions.append(
            decide(item.publisher_id, item.product_name, environment, product, license, today)
        )

    return decisions, created


def _environment_claim(environment: Environment | None, customer: Customer | None) -> dict:
    claim: dict = {
        "registered": environment is not None and environment.registered,
        "active": environment is not None and environment.registered and environment.active,
    }
    if customer is not None:
        claim["customerName"] = customer.name
        if customer.customer_number:
            claim["customerNumber"] = customer.customer_number

    return claim


def _decision_claim(decision: Decision, publisher_name: str) -> dict:
    """Render one decision; fields without a value are left out."""
    claim: dict = {
        "publisherId": decision.publisher_id,
        "productName": decision.product_name,
        "status": str(decision.status),
        "licensed": decision.licensed,
        "disableFeature": decision.disable_feature,
    }
    if publisher_name:
        claim["publisherName"] = publisher_name

    license = decision.license
    if license is not None:
        claim.update(
            licenseType=license.license_type,
            enabled=license.enabled,
            siteLicense=license.site_license,
        )
        if license.number_of_users is not None:
            claim["numberOfUsers"] = license.number_of_users
        for name, day in (
            ("subscriptionStartDate", license.subscription_start_date),
            ("expirationDate", license.expiration_date),
            ("featureDisableDate", license.feature_disable_date),
        ):
            if day is not None:
                claim[name] = day.isoformat()

    product = decision.product
    if product is not None:
        for name, value in (
            ("termsUrl", product.terms_url),
            ("userGuideUrl", product.user_guide_url),
            ("releaseNotesUrl", product.release_notes_url),
            ("supportEmail", product.support_email),
        ):
            if value:
                claim[name] = value

    return claim


def _sighting(request: ValidationRequest) -> Environment:
    return Environment(
        serial_number=request.serial_number,
        tenant=request.tenant,
        host_url=request.host_url,
        is_production=request.is_production,
    )


def _reported(request: ValidationRequest, now: datetime) -> tuple[ReportedProduct, ...]:
    return tuple(
        ReportedProduct(
            publisher_id=item.publisher_id,
            product_name=item.product_name,
            model_name=item.model_name,
            model_version=item.model_version,
            is_enabled=item.is_enabled,
            is_installed=item.is_installed,
            last_seen=now,
        )
        for item in request.products
    )
