"""The development host under malformed framing and many clients at once.

A malformed Content-Length gets a 400, and concurrent clients are all answered.
"""

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from function_app import app
from licensing.devhost import make_server
from tests.fixtures import FABRIKAM, product, request_body


@pytest.fixture
def address(demo) -> Iterator[tuple[str, int]]:
    server = make_server(app, "127.0.0.1", 0, "api")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()
    thread.join()


def post(address: tuple[str, int], body: bytes, length: str | None = None) -> int:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.putrequest("POST", "/api/v1/validate")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", length or str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_unicode_digit_content_length_gets_400(address):
    # "²" (sent as the Latin-1 byte 0xB2) passes str.isdigit() but int() rejects it.
    status = post(address, b"{}", length="\u00b2")

    assert status == 400


def test_concurrent_clients_all_answered(address):
    count = 48
    barrier = threading.Barrier(count)
    outcomes: list[int | str] = []

    def validate(index: int) -> None:
        body = request_body(f"DEVHOST-{index:04d}", "contoso.com", product(FABRIKAM, "X"))
        barrier.wait()
        try:
            outcomes.append(post(address, json.dumps(body).encode()))
        except OSError as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=validate, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == [200] * count
