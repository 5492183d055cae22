"""Readiness probe: storage and signing key, without internal detail."""

from __future__ import annotations

import logging

import azure.functions as func

from .. import http, runtime
from ..errors import LicensingError
from ..settings import SettingsError

_LOGGER = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.route(route="v1/health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Report 200 when storage and the signing key work, else 503."""
    return http.handle(req, _health)


def _health(req: func.HttpRequest) -> func.HttpResponse:
    http.require_method(req, "GET")
    checks = {"storage": "unavailable", "signer": "unavailable"}
    try:
        services = runtime.services(prepare_tables=False)
    except (LicensingError, SettingsError) as exc:
        _LOGGER.warning("Health check failed: %s", type(exc).__name__)
        services = None

    if services is not None:
        checks["storage"] = _check(services.store.ping)
        checks["signer"] = _check(services.signer.jwks)

    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "healthy" if healthy else "unhealthy", "checks": checks}
    headers = {} if healthy else {"Retry-After": "30"}
    return http.json_response(body, 200 if healthy else 503, headers)


def _check(probe) -> str:
    try:
        probe()
    except LicensingError as exc:
        _LOGGER.warning("Health check %s failed: %s", probe.__qualname__, exc.code)
        return "unavailable"

    return "ok"
