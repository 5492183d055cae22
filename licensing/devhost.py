"""Development HTTP host for an ``azure.functions.FunctionApp``.

Serves the app's HTTP functions the way ``func start`` does, for machines without
Azure Functions Core Tools: the same ``/<route_prefix>/<route>`` URLs and route
parameters, and the function's status, headers and body passed back unchanged.
Like ``func start``, it does not check function keys, whatever a function's auth
level is.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import signal
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.http import HttpMethod

from .registry import functions_of

__all__ = ["MAX_BODY_BYTES", "InvocationContext", "make_server", "serve"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024

# After a 413 the host reads and drops what the client still sends for up to this
# long. Closing a socket with unread input makes the kernel send a reset, and the
# client could then lose the 413 response before reading it.
DISCARD_SECONDS = 1.0

ALL_METHODS = tuple(method.value for method in HttpMethod)

# The route constraints of ASP.NET Core that the dev host supports. The guid
# pattern accepts only the dashed form.
CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}",
}

PARAMETER = re.compile(
    r"\{(?P<catch_all>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?::(?P<constraint>[a-z]+))?(?P<optional>\?)?\}"
)

# Headers that describe the connection or the framing, which this host sets.
HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}

# A W3C traceparent header of version 00: trace id, parent id and flags.
TRACEPARENT = re.compile(r"00-(?P<trace_id>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


class BodyTooLargeError(Exception):
    """The request body is larger than MAX_BODY_BYTES."""


class BadRequestError(Exception):
    """Invalid request framing, such as a malformed Content-Length or chunk size."""


@dataclass(frozen=True)
class Segment:
    """One path segment of a route template: a literal or a parameter."""

    text: str
    is_parameter: bool = False
    pattern: re.Pattern[str] | None = None
    optional: bool = False
    catch_all: bool = False

    def matches(self, value: str) -> bool:
        if not self.is_parameter:
            return value.lower() == self.text.lower()
        if not value:
            return False
        return self.pattern is None or self.pattern.fullmatch(value) is not None

    def rank(self) -> int:
        """Return the precedence rank. Lower ranks win when routes overlap."""
        if not self.is_parameter:
            return 0
        if self.catch_all:
            return 4
        if self.optional:
            return 3
        return 1 if self.pattern is not None else 2


@dataclass(frozen=True)
class Route:
    """An HTTP function with its full URL template and allowed methods."""

    name: str
    template: str
    segments: tuple[Segment, ...]
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    request_arg: str
    takes_context: bool = False

    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.rank() for segment in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Return the route parameters if the decoded path parts match."""
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[index:])
                if rest:
                    params[segment.text] = rest
                return params
            if index >= len(parts):
                # Only the last segment may be optional.
                return params if segment.optional else None
            if not segment.matches(parts[index]):
                return None
            if segment.is_parameter:
                params[segment.text] = parts[index]
        return params if len(parts) == len(self.segments) else None


def parse_template(template: str) -> tuple[Segment, ...]:
    """Parse a route template such as ``api/v1/customers/{customerId}``.

    Raises ValueError for the parts of ASP.NET Core route syntax that the dev
    host does not support, so that a route never silently matches differently.
    """
    texts = template.split("/") if template else []
    segments = tuple(parse_segment(template, text) for text in texts)
    for segment in segments[:-1]:
        if segment.optional or segment.catch_all:
            raise ValueError(
                f"Route {template!r}: only the last segment may be optional "
                "or a catch-all parameter"
            )
    return segments


def parse_segment(template: str, text: str) -> Segment:
    if "{" not in text and "}" not in text:
        if not text:
            raise ValueError(f"Route {template!r} contains an empty segment")
        return Segment(text)

    found = PARAMETER.fullmatch(text)
    if found is None:
        raise ValueError(
            f"Route {template!r}: segment {text!r} is not supported by the dev "
            "host; use a literal or a whole-segment parameter such as {name}"
        )

    constraint = found["constraint"]
    pattern = None
    if constraint is not None:
        if constraint not in CONSTRAINTS:
            raise ValueError(
                f"Route {template!r}: constraint {constraint!r} is not supported "
                f"by the dev host; use one of {', '.join(CONSTRAINTS)}"
            )
        pattern = re.compile(CONSTRAINTS[constraint])

    return Segment(
        found["name"],
        is_parameter=True,
        pattern=pattern,
        optional=found["optional"] is not None,
        catch_all=found["catch_all"] is not None,
    )


def join_template(route_prefix: str, route: str) -> str:
    parts = (route_prefix.strip("/"), route.strip("/"))
    return "/".join(part for part in parts if part)


def method_names(methods: Iterable[HttpMethod | str] | None) -> tuple[str, ...]:
    """Return upper-case method names, or every method when none are given."""
    if not methods:
        return ALL_METHODS
    names = []
    for method in methods:
        value = method.value if isinstance(method, HttpMethod) else str(method)
        names.append(value.upper())
    return tuple(names)


def build_routes(app: func.FunctionApp, route_prefix: str) -> list[Route]:
    """Collect the app's HTTP functions, most specific template first."""
    routes = []
    for function in functions_of(app):
        name = function.get_function_name()
        if not function.is_http_function():
            logger.info("Skipping function %s: it has no HTTP trigger", name)
            continue

        trigger = function.get_trigger()
        template = join_template(route_prefix, trigger.route or name)
        handler = function.get_user_function()
        route = Route(
            name=name,
            template=template,
            segments=parse_template(template),
            methods=method_names(trigger.methods),
            handler=handler,
            request_arg=trigger.name,
            takes_context="context" in inspect.signature(handler).parameters,
        )
        routes.append(route)
    routes.sort(key=Route.precedence)
    return routes


def split_path(path: str) -> list[str]:
    stripped = path.strip("/")
    if not stripped:
        return []
    return [urllib.parse.unquote(part) for part in stripped.split("/")]


def join_repeated(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Join repeated names' values with commas, as the Functions host does."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


class InvocationTraceContext:
    """The W3C trace context of one invocation, with the attributes of the worker's."""

    def __init__(self, trace_parent: str, trace_state: str = "") -> None:
        self.trace_parent = trace_parent
        self.trace_state = trace_state
        self.attributes: dict[str, str] = {}


class InvocationContext(func.Context):
    """The ``context`` argument that the Functions worker passes to functions taking one.

    Like the Functions host, which records a request for each invocation, the dev host
    starts a new span: its trace id comes from a valid ``traceparent`` header, or is new.
    """

    def __init__(
        self,
        function_name: str,
        function_directory: str = "",
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._storage = threading.local()
        self._storage.invocation_id = self._invocation_id

        incoming = TRACEPARENT.fullmatch(traceparent or "")
        if incoming and int(incoming["trace_id"], 16) == 0:
            # W3C Trace Context rules an all-zero trace id invalid.
            incoming = None
        trace_id = incoming["trace_id"] if incoming else uuid.uuid4().hex
        span_id = uuid.uuid4().hex[:16]
        state = (tracestate or "") if incoming else ""
        self._trace_context = InvocationTraceContext(f"00-{trace_id}-{span_id}-01", state)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:
        return self._storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> InvocationTraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> None:
        # HTTP triggers have no retry policy.
        return None


def call_function(route: Route, request: func.HttpRequest) -> func.HttpResponse:
    arguments: dict[str, Any] = {route.request_arg: request}
    if route.takes_context:
        arguments["context"] = InvocationContext(
            route.name,
            str(Path(inspect.getfile(route.handler)).parent),
            request.headers.get("traceparent"),
            request.headers.get("tracestate"),
        )
    result = route.handler(**arguments)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    if isinstance(result, str):
        return func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"Function {route.name} returned {type(result).__name__}; "
            "expected azure.functions.HttpResponse or str"
        )
    return result


def response_headers(response: func.HttpResponse) -> list[tuple[str, str]]:
    """Return the response headers, with Content-Type added as azure.functions does."""
    headers = [
        (name, value) for name, value in response.headers.items() if name.lower() not in HOP_BY_HOP
    ]
    if not any(name.lower() == "content-type" for name, _ in headers):
        content_type = response.mimetype
        if content_type.startswith("text/"):
            content_type = f"{content_type}; charset={response.charset}"
        headers.append(("Content-Type", content_type))
    return headers


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class DevHostServer(ThreadingHTTPServer):
    """Threaded HTTP server that routes requests to the app's functions."""

    daemon_threads = True
    # The socketserver default of 5 resets connections when many clients
    # connect at once, as in a load test.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], routes: list[Route]) -> None:
        self.routes = routes
        super().__init__(address, DevHostRequestHandler)


class DevHostRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DevHostServer

    def version_string(self) -> str:
        return "licensing-devhost"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the standard access log, because handle_any_method logs each request."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.warning("%s: %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        # A final 413 replaces "100 Continue", so the client does not send the
        # body at all.
        try:
            if self.declared_length() > MAX_BODY_BYTES:
                return True
        except BadRequestError:
            return True
        return super().handle_expect_100()

    def handle_any_method(self) -> None:
        started = time.monotonic()
        status = self.dispatch()
        elapsed_ms = (time.monotonic() - started) * 1000
        # The query string is left out because it can carry function keys.
        path = urllib.parse.urlsplit(self.path).path
        logger.info("%s %s %d %.1f ms", self.command, path, status, elapsed_ms)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any_method
    do_DELETE = do_OPTIONS = handle_any_method

    def dispatch(self) -> int:
        try:
            body = self.read_body()
        except BodyTooLargeError:
            self.close_connection = True
            status = self.send_error_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "BODY_TOO_LARGE",
                f"The request body is larger than {MAX_BODY_BYTES} bytes.",
            )
            self.discard_unread_input()
            return status
        except BadRequestError as error:
            self.close_connection = True
            return self.send_error_json(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", str(error))

        path = urllib.parse.urlsplit(self.path).path
        matches = self.find_routes(path)
        if not matches:
            return self.send_error_json(
                HTTPStatus.NOT_FOUND, "NOT_FOUND", f"No function has the path {path}."
            )

        for route, route_params in matches:
            if self.command in route.methods:
                return self.run_function(route, route_params, body)

        allowed = sorted({method for route, _ in matches for method in route.methods})
        return self.send_error_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            f"{self.command} is not allowed on {path}; use {', '.join(allowed)}.",
            [("Allow", ", ".join(allowed))],
        )

    def find_routes(self, path: str) -> list[tuple[Route, dict[str, str]]]:
        parts = split_path(path)
        matches = []
        for route in self.server.routes:
            route_params = route.match(parts)
            if route_params is not None:
                matches.append((route, route_params))
        return matches

    def run_function(self, route: Route, route_params: dict[str, str], body: bytes) -> int:
        request = self.build_request(route_params, body)
        try:
            response = call_function(route, request)
        except Exception:
            path = urllib.parse.urlsplit(self.path).path
            logger.exception(
                "Function %s raised an exception on %s %s", route.name, self.command, path
            )
            return self.send_error_json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                f"Function {route.name} raised an exception. The dev host log "
                "contains the traceback.",
            )
        return self.write_response(
            response.status_code, response_headers(response), response.get_body()
        )

    def build_request(self, route_params: dict[str, str], body: bytes) -> func.HttpRequest:
        split = urllib.parse.urlsplit(self.path)
        if split.scheme:
            url = self.path
        else:
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            url = f"http://{host}{self.path}"
        query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        return func.HttpRequest(
            self.command,
            url,
            headers=join_repeated((name.lower(), value) for name, value in self.headers.items()),
            params=join_repeated(query),
            route_params=route_params,
            body=body,
        )

    def declared_length(self) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            return 0
        if not (value.strip().isascii() and value.strip().isdigit()):
            raise BadRequestError(f"Content-Length {value!r} is invalid: expected a byte count.")
        return int(value)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked_body()
        length = self.declared_length()
        if length > MAX_BODY_BYTES:
            raise BodyTooLargeError
        return self.rfile.read(length) if length else b""

    def read_chunked_body(self) -> bytes:
        chunks = []
        total = 0
        while True:
            size = self.read_chunk_size()
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise BodyTooLargeError
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
        # Skip the trailer section, which ends with an empty line.
        while self.rfile.readline(1024).strip():
            pass
        return b"".join(chunks)

    def read_chunk_size(self) -> int:
        line = self.rfile.readline(1024)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequestError(
                f"Chunk size {size_text!r} is invalid: expected a hexadecimal number."
            ) from None
        if size < 0:
            raise BadRequestError(f"Chunk size {size_text!r} is invalid: it is negative.")
        return size

    def send_error_json(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> int:
        headers = [("Content-Type", "application/json"), *(extra_headers or [])]
        return self.write_response(status, headers, error_body(code, message))

    def write_response(self, status: int, headers: list[tuple[str, str]], body: bytes) -> int:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        # Under RFC 9110, 1xx, 204 and 304 responses have no content, and 1xx and
        # 204 responses must not send Content-Length.
        has_body = status >= 200 and status not in (204, 304)
        if has_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if has_body and self.command != "HEAD":
            self.wfile.write(body)
        return int(status)

    def discard_unread_input(self) -> None:
        deadline = time.monotonic() + DISCARD_SECONDS
        try:
            self.connection.shutdown(socket.SHUT_WR)
            while (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass


def make_server(
    app: func.FunctionApp,
    host: str = "127.0.0.1",
    port: int = 7071,
    route_prefix: str = "api",
) -> DevHostServer:
    """Bind a server for the app's HTTP functions. Port 0 picks a free port.

    The caller runs ``serve_forever()`` and later ``shutdown()`` and
    ``server_close()``.
    """
    routes = build_routes(app, route_prefix)
    return DevHostServer((host, port), routes)


def serve(
    app: func.FunctionApp,
    host: str = "127.0.0.1",
    port: int = 7071,
    route_prefix: str = "api",
) -> None:
    """Serve the app until SIGINT or SIGTERM arrives.

    Call it from the main thread, because it installs signal handlers.
    """
    server = make_server(app, host, port, route_prefix)
    stop = threading.Event()
    previous_handlers = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    thread = threading.Thread(target=server.serve_forever, name="devhost")
    thread.start()
    try:
        log_routes(server)
        while not stop.wait(0.5):
            pass
        logger.info("Stopping the dev host")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    logger.info("Dev host stopped")


def log_routes(server: DevHostServer) -> None:
    host, port = server.server_address[:2]
    logger.info("Dev host listening on http://%s:%d (function keys are not checked)", host, port)
    for route in server.routes:
        methods = ",".join(route.methods)
        logger.info(
            "  %s: [%s] http://%s:%d/%s",
            route.name,
            methods,
            host,
            port,
            route.template,
        )
