"""GET /api/v1/openapi.json: the API definition, addressed to the host that serves it."""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from .. import http

bp = func.Blueprint()


@bp.route(route="v1/openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_definition(req: func.HttpRequest) -> func.HttpResponse:
    """Serve the OpenAPI 2.0 definition of the whole API."""
    return http.handle(req, _definition)


def _definition(req: func.HttpRequest) -> func.HttpResponse:
    # Imported here: the definition is rarely requested, and building the module's
    # tables at import added about 4 ms to each cold start.
    from .. import openapi

    http.require_method(req, "GET")
    url = urlsplit(req.url)
    scheme = url.scheme if url.scheme in ("http", "https") else "https"
    return http.json_response(openapi.build(url.netloc or "localhost", scheme))
