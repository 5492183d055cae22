"""Request parsing and response rendering shared by the HTTP functions."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from . import requestid
from .errors import (
    BodyTooLarge,
    InvalidInput,
    LicensingError,
    MethodNotAllowed,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from .limits import RateLimited
from .settings import SettingsError

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

requestid.install()

# Responses carry signed decisions or admin data, so no cache may keep them.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers={**_HEADERS, **(headers or {})},
        mimetype="application/json",
        charset="utf-8",
    )


def error_response(error: LicensingError) -> func.HttpResponse:
    detail = {"code": error.code, "message": error.message}
    if error.target:
        detail["target"] = error.target
    if requestid.current():
        detail["requestId"] = requestid.current()

    headers = {}
    if isinstance(error, (Unavailable, RateLimited)):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = error.target or ""
        detail.pop("target")
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = error.challenge

    return json_response({"error": detail}, error.status, headers)


def handle(req: func.HttpRequest, handler: Callable[[func.HttpRequest], func.HttpResponse]):
    """Run a handler and render every error as the JSON error body.

    Every response carries the request id (``x-request-id``), and CORS
    headers when the request's Origin is one of LICENSING_CORS_ORIGINS.
    """
    token = requestid.start(req.headers.get(requestid.HEADER))
    try:
        response = _run(req, handler)
        response.headers[requestid.HEADER] = requestid.current()
        _allow_origin(req, response)
        return response
    finally:
        requestid.finish(token)


def _run(req: func.HttpRequest, handler) -> func.HttpResponse:
    # The path only in logs: the query string may carry the function key.
    path = urlsplit(req.url).path
    try:
        return handler(req)
    except LicensingError as exc:
        if exc.status >= 500:
            _LOGGER.warning("%s %s failed: %s", req.method, path, exc.code)
        else:
            _LOGGER.info("%s %s rejected: %s %s", req.method, path, exc.status, exc.code)
        return error_response(exc)
    except SettingsError as exc:
        _LOGGER.error("Configuration error: %s", exc)
        unavailable = Unavailable("The service is not configured.", "NOT_CONFIGURED", 300)
        return error_response(unavailable)
    except Exception:
        # A defect: log it with the request id, and tell the caller nothing more.
        _LOGGER.exception("%s %s failed unexpectedly", req.method, path)
        failure = LicensingError("The service failed; quote the request id to support.")
        failure.status, failure.code = 500, "INTERNAL_ERROR"
        return error_response(failure)


def _allow_origin(req: func.HttpRequest, response: func.HttpResponse) -> None:
    origin = req.headers.get("Origin")
    allowed = os.environ.get("LICENSING_CORS_ORIGINS", "")
    if origin and origin in {item.strip() for item in allowed.split(",") if item.strip()}:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "ETag, x-request-id, Retry-After"
        response.headers["Vary"] = "Origin"


def require_method(req: func.HttpRequest, *methods: str) -> None:
    if req.method.upper() not in methods:
        raise MethodNotAllowed(f"Method {req.method} is not allowed here.", ", ".join(methods))


def read_json(req: func.HttpRequest) -> Any:
    """Decode a JSON request body of at most 64 KiB sent as application/json."""
    media_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.", "Content-Type")

    declared = req.headers.get("Content-Length") or ""
    body = req.get_body()
    if declared and not (declared.isascii() and declared.isdigit()):
        raise InvalidInput(
            "Content-Length is not a byte count.", "Content-Length", "INVALID_HEADER"
        )
    too_long = declared and int(declared) > MAX_BODY_BYTES
    if too_long or len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")

    try:
        # utf-8-sig also accepts the byte order mark that .NET writers may send.
        return json.loads(
            body.decode("utf-8-sig"),
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput("The body is not valid UTF-8 JSON.", code="INVALID_JSON") from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """Build an object, rejecting a key given twice (which value would win is unclear)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return result
