"""Validation endpoints: validate (function key) and the public keys."""

from __future__ import annotations

import logging
from collections import Counter

import azure.functions as func

from .. import auth, http, runtime, telemetry
from ..limits import client_address
from ..protocol import parse_validation_request

_LOGGER = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.route(route="v1/validate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def validate(req: func.HttpRequest, context: func.Context = None) -> func.HttpResponse:
    """Answer a FinOps environment with signed license decisions.

    The Functions worker passes ``context``, whose trace context makes the storage
    calls and the telemetry events children of the host's request. The worker
    rejects any annotation but ``func.Context``, so the None default for callers
    without an invocation (tests) is not spelled ``func.Context | None``.
    """
    with telemetry.invocation(context):
        return http.handle(req, _validate)


def _validate(req: func.HttpRequest) -> func.HttpResponse:
    http.require_method(req, "POST")
    auth.authorize_validation(req)
    services = runtime.services()
    address = client_address(req.headers.get("X-Forwarded-For"))
    services.client_limit.check(address, "this client address")

    request = parse_validation_request(http.read_json(req))
    services.serial_limit.check(request.serial_number, f"serial {request.serial_number}")
    validator = services.validator

    token, decisions = validator.validate(request, runtime.now())
    counts = Counter(str(d.status) for d in decisions)
    _LOGGER.info("Validated serial %s: %s", request.serial_number, dict(counts))
    telemetry.record_validation(request, decisions)
    return http.json_response({"token": token})


@bp.route(route="v1/keys", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def keys(req: func.HttpRequest) -> func.HttpResponse:
    """Publish the JWKS of the keys that verify current tokens."""
    return http.handle(req, _keys)


def _keys(req: func.HttpRequest) -> func.HttpResponse:
    http.require_method(req, "GET")
    # The public keys do not depend on storage, so they are served while it is down.
    return http.json_response(runtime.services(prepare_tables=False).signer.jwks())
