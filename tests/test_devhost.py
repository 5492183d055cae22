"""Tests of the development HTTP host against a small FunctionApp."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import azure.functions as func
import pytest

from licensing import devhost

blueprint = func.Blueprint()


@blueprint.route(
    route="v1/echo", methods=[func.HttpMethod.POST], auth_level=func.AuthLevel.FUNCTION
)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    received = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "headers": dict(req.headers),
        "body": req.get_body().decode(),
    }
    return func.HttpResponse(
        json.dumps(received),
        status_code=201,
        headers={"X-Request-Id": "abc-123", "Cache-Control": "no-store"},
        mimetype="application/json",
    )


@blueprint.route(route="v1/greetings/{name}", methods=["GET"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.route_params['name']}!")


@blueprint.route(route="v1/greetings/admin", methods=["GET", "DELETE"])
def greet_admin(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Hello, administrator.", status_code=203)


@blueprint.route(route="v1/items/{itemId:int}/{detail?}", methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)))


@blueprint.route(route="v1/fail", methods=["GET"])
def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@blueprint.route(route="v1/empty", methods=["PUT"])
def empty(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@blueprint.route(route="v1/invocation", methods=["GET"])
def invocation(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    received = {
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "thread_invocation_id": context.thread_local_storage.invocation_id,
        "traceparent": context.trace_context.trace_parent,
        "tracestate": context.trace_context.trace_state,
    }
    return func.HttpResponse(json.dumps(received), mimetype="application/json")


def build_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(blueprint)
    return app


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    server = devhost.make_server(build_app(), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def call(
    address: tuple[str, int],
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def request_lines(caplog: pytest.LogCaptureFixture, path_part: str) -> list[str]:
    """Return the host's log lines that mention path_part."""
    messages = [r.getMessage() for r in caplog.records if r.name == "licensing.devhost"]
    return [message for message in messages if path_part in message]


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


def test_get_route_fills_route_params(address: tuple[str, int]) -> None:
    url = "http://{}:{}/api/v1/greetings/Ada%20L".format(*address)
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.read() == b"Hello, Ada L!"


def test_literal_route_wins_over_parameter(address: tuple[str, int]) -> None:
    status, _, body = call(address, "GET", "/api/v1/greetings/admin")

    assert status == 203
    assert body == b"Hello, administrator."


def test_route_matching_ignores_case(address: tuple[str, int]) -> None:
    status, _, body = call(address, "GET", "/API/V1/Greetings/Bob")

    assert status == 200
    assert body == b"Hello, Bob!"


def test_constraint_and_optional_segment(address: tuple[str, int]) -> None:
    status, _, body = call(address, "GET", "/api/v1/items/42/history")
    assert status == 200
    assert json.loads(body) == {"itemId": "42", "detail": "history"}

    status, _, body = call(address, "GET", "/api/v1/items/42")
    assert status == 200
    assert json.loads(body) == {"itemId": "42"}

    status, _, body = call(address, "GET", "/api/v1/items/forty-two")
    assert status == 404


def test_post_passes_request_and_response(address: tuple[str, int]) -> None:
    status, headers, body = call(
        address,
        "POST",
        "/api/v1/echo?serial=5KQ2&tag=a&tag=b",
        body=b'{"hello": "world"}',
        headers={"Content-Type": "application/json", "X-Client": "tests"},
    )

    assert status == 201
    assert headers["X-Request-Id"] == "abc-123"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    received = json.loads(body)
    assert received["method"] == "POST"
    assert received["url"].endswith("/api/v1/echo?serial=5KQ2&tag=a&tag=b")
    assert received["params"] == {"serial": "5KQ2", "tag": "a,b"}
    assert received["route_params"] == {}
    assert received["headers"]["x-client"] == "tests"
    assert received["headers"]["content-type"] == "application/json"
    assert received["body"] == '{"hello": "world"}'


def test_chunked_body_reaches_function(address: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.request("POST", "/api/v1/echo", body=iter([b"part one, ", b"part two"]))
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 201
    assert json.loads(body)["body"] == "part one, part two"


def test_keep_alive_serves_several_requests(address: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        for name in ("one", "two", "three"):
            connection.request("GET", f"/api/v1/greetings/{name}")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == f"Hello, {name}!".encode()
    finally:
        connection.close()


def test_no_content_response(address: tuple[str, int]) -> None:
    status, headers, body = call(address, "PUT", "/api/v1/empty", body=b"x")

    assert status == 204
    assert body == b""
    assert "Content-Length" not in headers


def test_unknown_path_returns_404(address: tuple[str, int]) -> None:
    for path in ("/api/v1/nothing", "/v1/greetings/bob", "/api/v1/greetings/a/b"):
        status, headers, body = call(address, "GET", path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/json"
        assert error_code(body) == "NOT_FOUND"


def test_wrong_method_returns_405(address: tuple[str, int]) -> None:
    status, headers, body = call(address, "GET", "/api/v1/echo")

    assert status == 405
    assert headers["Allow"] == "POST"
    assert error_code(body) == "METHOD_NOT_ALLOWED"


def test_405_allow_merges_matching_routes(address: tuple[str, int]) -> None:
    status, headers, _ = call(address, "POST", "/api/v1/greetings/admin")

    assert status == 405
    assert headers["Allow"] == "DELETE, GET"


def test_function_exception_returns_500(
    address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="licensing.devhost")

    status, _, body = call(address, "GET", "/api/v1/fail")

    assert status == 500
    assert error_code(body) == "INTERNAL_ERROR"
    assert b"boom" not in body
    failures = [r for r in caplog.records if r.exc_info is not None]
    assert len(failures) == 1
    assert "fail" in failures[0].getMessage()


def test_oversized_body_rejected_unread(address: tuple[str, int]) -> None:
    # Only the headers are sent: the 413 must come without waiting for a body.
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.putrequest("POST", "/api/v1/echo")
        connection.putheader("Content-Length", str(devhost.MAX_BODY_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 413
    assert response.headers["Connection"] == "close"
    assert error_code(body) == "BODY_TOO_LARGE"


def test_oversized_body_sent_whole_gets_413(address: tuple[str, int]) -> None:
    status, _, body = call(
        address, "POST", "/api/v1/echo", body=b"x" * (devhost.MAX_BODY_BYTES + 1)
    )

    assert status == 413
    assert error_code(body) == "BODY_TOO_LARGE"


def test_body_at_limit_is_accepted(address: tuple[str, int]) -> None:
    status, _, body = call(address, "POST", "/api/v1/echo", body=b"x" * devhost.MAX_BODY_BYTES)

    assert status == 201
    assert len(json.loads(body)["body"]) == devhost.MAX_BODY_BYTES


def test_oversized_chunked_body_gets_413(address: tuple[str, int]) -> None:
    chunk = b"x" * (256 * 1024)
    status, _, body = call(address, "POST", "/api/v1/echo", body=iter([chunk] * 5))

    assert status == 413
    assert error_code(body) == "BODY_TOO_LARGE"


def test_invalid_content_length_returns_400(address: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.putrequest("POST", "/api/v1/echo")
        connection.putheader("Content-Length", "ten")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 400
    assert error_code(body) == "BAD_REQUEST"


def test_server_header_is_neutral(address: tuple[str, int]) -> None:
    try:
        urllib.request.urlopen("http://{}:{}/api/missing".format(*address), timeout=5)
    except urllib.error.HTTPError as error:
        server_header = error.headers["Server"]
    else:
        pytest.fail("expected a 404 response")

    assert server_header == "licensing-devhost"


def test_request_logged_once(address: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="licensing.devhost")

    call(address, "GET", "/api/v1/greetings/logged?code=secret")

    # The host logs after it has sent the response, so the line can lag behind,
    # and so can the line of the previous test's request.
    deadline = time.monotonic() + 5
    while not request_lines(caplog, "/logged") and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = request_lines(caplog, "/logged")
    assert len(lines) == 1
    assert lines[0].startswith("GET /api/v1/greetings/logged 200 ")
    assert lines[0].endswith(" ms")
    assert "secret" not in lines[0]


def test_one_app_serves_several_servers() -> None:
    app = build_app()

    for _ in range(2):
        server = devhost.make_server(app, host="127.0.0.1", port=0)
        try:
            assert len(server.routes) == 7
        finally:
            server.server_close()


def test_function_without_http_trigger_skipped() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
    def hourly(timer: func.TimerRequest) -> None:
        pass

    server = devhost.make_server(app, host="127.0.0.1", port=0)
    try:
        assert server.routes == []
    finally:
        server.server_close()


@pytest.mark.parametrize(
    "route",
    ["v1/files/{name}.{ext}", "v1/{rest?}/tail", "v1/{id:min(3)}", "v1//x"],
)
def test_unsupported_template_rejected(route: str) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route=route, methods=["GET"])
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("")

    with pytest.raises(ValueError, match="Route"):
        devhost.make_server(app, host="127.0.0.1", port=0)


def invocation_of(address: tuple[str, int], headers: dict[str, str] | None = None) -> dict:
    status, _, body = call(address, "GET", "/api/v1/invocation", headers=headers)
    assert status == 200
    return json.loads(body)


def test_context_passed_to_function_taking_one(address: tuple[str, int]) -> None:
    first = invocation_of(address)
    second = invocation_of(address)

    assert first["function_name"] == "invocation"
    assert first["thread_invocation_id"] == first["invocation_id"]
    assert first["invocation_id"] != second["invocation_id"]
    assert devhost.TRACEPARENT.fullmatch(first["traceparent"])
    assert first["traceparent"].split("-")[1] != second["traceparent"].split("-")[1]


def test_context_continues_incoming_trace(address: tuple[str, int]) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    received = invocation_of(address, {"traceparent": incoming, "tracestate": "vendor=1"})

    version, trace_id, parent_id, flags = received["traceparent"].split("-")
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parent_id != "00f067aa0ba902b7"
    assert (version, flags) == ("00", "01")
    assert received["tracestate"] == "vendor=1"


@pytest.mark.parametrize(
    "incoming",
    ["garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-ABC-def-01"],
)
def test_context_replaces_invalid_traceparent(address: tuple[str, int], incoming: str) -> None:
    received = invocation_of(address, {"traceparent": incoming, "tracestate": "vendor=1"})

    trace_id = received["traceparent"].split("-")[1]
    assert devhost.TRACEPARENT.fullmatch(received["traceparent"])
    assert trace_id not in incoming
    assert received["tracestate"] == ""
