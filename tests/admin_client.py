"""Calls the admin functions through their registered routes, as the host would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func

from function_app import app
from licensing.devhost import build_routes, split_path

ROUTES = build_routes(app, "api")


@dataclass
class Response:
    status: int
    headers: dict
    body: dict | None

    @property
    def etag(self) -> str:
        return self.headers.get("ETag", "")


def request(
    method: str,
    path: str,
    body: dict | bytes | None = None,
    headers: dict | None = None,
) -> Response:
    """Send ``method`` to ``/api/PATH`` (PATH may hold a query) and decode the answer."""
    url = urlsplit("http://localhost/api/" + path.lstrip("/"))
    parts = split_path(url.path)
    raw = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else b"")
    )
    sent = {"Content-Type": "application/json", **(headers or {})}

    for route in ROUTES:
        params = route.match(parts)
        if params is None or method not in route.methods:
            continue

        req = func.HttpRequest(
            method,
            url.geturl(),
            headers=sent,
            params=dict(parse_qsl(url.query)),
            route_params=params,
            body=raw,
        )
        answer = route.handler(req)
        text = answer.get_body()
        decoded = json.loads(text) if text else None
        return Response(answer.status_code, dict(answer.headers), decoded)

    raise LookupError(f"no function serves {method} {path}")


def follow(link: str) -> str:
    """Turn an absolute nextLink into a path for request()."""
    parts = urlsplit(link)
    return parts.path.removeprefix("/api/") + "?" + parts.query


def query(**params) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v is not None})
