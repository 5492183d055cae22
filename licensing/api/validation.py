"""Validation endpoints: validate (function key) and the public keys."""

from __future__ import annotations

import logging
from collections import Counter

import azure.functions as func

from .. import http, runtime
from ..protocol import parse_validation_request

_LOGGER = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.route(route="v1/validate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def validate(req: func.HttpRequest) -> func.HttpResponse:
    """Answer a FinOps environment with signed license decisions."""
    return http.handle(req, _validate)


def _validate(req: func.HttpRequest) -> func.HttpResponse:
    http.require_method(req, "POST")
    request = parse_validation_request(http.read_json(req))
    validator = runtime.services().validator

    token, decisions = validator.validate(request, runtime.now())
    counts = Counter(str(d.status) for d in decisions)
    _LOGGER.info("Validated serial %s: %s", request.serial_number, dict(counts))
    return http.json_response({"token": token})


@bp.route(route="v1/keys", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def keys(req: func.HttpRequest) -> func.HttpResponse:
    """Publish the JWKS of the keys that verify current tokens."""
    return http.handle(req, _keys)


def _keys(req: func.HttpRequest) -> func.HttpResponse:
    http.require_method(req, "GET")
    return http.json_response(runtime.services().signer.jwks())
