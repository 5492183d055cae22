"""Storage and signing key outages: 503 with Retry-After in bounded time, no partial
writes, and recovery without a restart.

Key Vault outages are covered in tests/test_keyvault.py (an unreachable vault, a
rejected challenge, a missing secret, a failed re-read).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from licensing import runtime
from licensing.importer import Importer, parse
from licensing.settings import Settings
from licensing.storage import Store
from tests.admin_client import request
from tests.conftest import (
    AZURITE_ACCOUNT,
    AZURITE_HOST,
    AZURITE_KEY,
    AZURITE_STOP_SECONDS,
    azurite_command,
    free_port,
    stop,
    wait_for_port,
)
from tests.fixtures import DEMO_FILE, FABRIKAM, error_of, post_validate, product, request_body

# A guard against hangs, not a benchmark: the storage client waits at most 2 s to
# connect and 4 s for each response, and retries once.
OUTAGE_BOUND_SECONDS = 20.0

CONTOSO_SERIAL = "5KQ2-77XD-9WMA"
CONTOSO_BODY = request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))


def connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};"
        f"TableEndpoint=http://{AZURITE_HOST}:{port}/{AZURITE_ACCOUNT};"
    )


class AzuriteProcess:
    """An Azurite table service of one test, which it can stop and start again."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.location = workspace / "data"
        self.location.mkdir()
        self.log_file = workspace / "azurite.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def connection(self) -> str:
        return connection_string(self.port)

    def start(self) -> None:
        # Output goes to a file: a pipe that is never read would block Azurite.
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                azurite_command(self.port, self.location),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workspace,
            )
        wait_for_port(self.process, self.port, self.log_file)

    def stop(self) -> None:
        """Stop Azurite as Ctrl-C does: on SIGINT it saves its data, on SIGTERM it does not."""
        if self.process is None:
            return

        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=AZURITE_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        stop(self.process)
        self.process = None


@pytest.fixture
def own_azurite(tmp_path) -> Iterator[AzuriteProcess]:
    azurite = AzuriteProcess(tmp_path)
    azurite.start()
    try:
        yield azurite
    finally:
        azurite.stop()


@pytest.fixture
def admin_env(service_env, monkeypatch) -> None:
    """Turn Entra checks off, so that admin calls run as the local developer."""
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "LICENSING_AUTH_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()


class HangingServer:
    """A loopback TCP server that accepts connections and never sends a response."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((AZURITE_HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)

    @property
    def accepted(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for connection in self._held:
            connection.close()


class StallingProxy:
    """A loopback TCP proxy to Azurite that, while ``stalled`` is set, forwards nothing.

    Connections stay open and requests get no response, as from storage that hangs.
    A request that contains ``stall_on`` sets ``stalled`` and is not forwarded.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.stalled = threading.Event()
        self.stall_on: bytes | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((AZURITE_HOST, 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self.stalled.is_set():
                continue

            upstream = socket.create_connection((AZURITE_HOST, self.target_port))
            self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self._threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if self.stall_on is not None and self.stall_on in data:
                    self.stalled.set()
                if not self.stalled.is_set():
                    sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(), which close() alone may not do.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._sockets:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    try:
        yield server
    finally:
        server.close()


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def assert_unavailable(status: int, headers, code: str, elapsed: float) -> None:
    assert status == 503, code
    assert code == "STORAGE_UNAVAILABLE"
    assert int(headers["Retry-After"]) > 0
    assert elapsed < OUTAGE_BOUND_SECONDS


def audit_entries(customer_name: str) -> list[dict]:
    """Return the audit entries whose before or after names ``customer_name``."""
    response = request("GET", "v1/audit?entityType=customer&top=1000")
    assert response.status == 200, response.body
    return [
        entry
        for entry in response.body["items"]
        if customer_name
        in (entry.get("after", {}).get("name"), entry.get("before", {}).get("name"))
    ]


def customers_named(name: str) -> list[dict]:
    response = request("GET", "v1/customers?name=" + name.replace(" ", "%20"))
    assert response.status == 200, response.body
    return [item for item in response.body["items"] if item["name"] == name]


# Azurite stopped and started again


def test_storage_stopped_returns_503_then_recovers(admin_env, own_azurite, monkeypatch):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", own_azurite.connection)
    runtime.reset()
    store = Store.from_settings(Settings.from_env())
    store.ensure_tables()
    Importer(store).run(parse(json.loads(DEMO_FILE.read_text())))

    assert post_validate(CONTOSO_BODY).status_code == 200
    contoso = customers_named("Contoso Ltd")[0]
    contoso_path = f"v1/customers/{contoso['id']}"
    renamed = {"name": "Contoso Pty Ltd", "customerNumber": contoso["customerNumber"]}

    own_azurite.stop()

    validation, elapsed = timed(lambda: post_validate(CONTOSO_BODY))
    assert_unavailable(
        validation.status_code, validation.headers, error_of(validation)["code"], elapsed
    )

    listing, elapsed = timed(lambda: request("GET", "v1/customers"))
    assert_unavailable(listing.status, listing.headers, listing.body["error"]["code"], elapsed)

    created, elapsed = timed(lambda: request("POST", "v1/customers", {"name": "Outage Coffee"}))
    assert_unavailable(created.status, created.headers, created.body["error"]["code"], elapsed)

    headers = {"If-Match": contoso["etag"]}
    updated, elapsed = timed(lambda: request("PUT", contoso_path, renamed, headers))
    assert_unavailable(updated.status, updated.headers, updated.body["error"]["code"], elapsed)

    # Azurite starts again on the same port and data folder. The service keeps its
    # clients: no runtime.reset.
    own_azurite.start()

    assert post_validate(CONTOSO_BODY).status_code == 200
    assert request("GET", "v1/customers").status == 200
    assert customers_named("Outage Coffee") == []
    assert audit_entries("Outage Coffee") == []
    assert audit_entries("Contoso Pty Ltd") == []

    # The update that failed changed nothing, so the ETag the admin read still holds.
    retried = request("PUT", contoso_path, renamed, headers)
    assert retried.status == 200, retried.body
    assert len(audit_entries("Contoso Pty Ltd")) == 1


def test_storage_never_started_returns_503(admin_env, monkeypatch):
    # Nothing listens on this port: every connection is refused.
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", connection_string(free_port()))
    runtime.reset()

    validation, elapsed = timed(lambda: post_validate(CONTOSO_BODY))
    assert_unavailable(
        validation.status_code, validation.headers, error_of(validation)["code"], elapsed
    )


# Storage that accepts connections and never responds


def test_hanging_storage_validate_returns_503(admin_env, hanging_server, monkeypatch):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", connection_string(hanging_server.port))
    runtime.reset()

    validation, elapsed = timed(lambda: post_validate(CONTOSO_BODY))

    assert hanging_server.accepted >= 1
    assert_unavailable(
        validation.status_code, validation.headers, error_of(validation)["code"], elapsed
    )


def test_storage_stalled_mid_run_returns_503(admin_env, own_azurite, monkeypatch):
    proxy = StallingProxy(own_azurite.port)
    try:
        monkeypatch.setenv("LICENSING_TABLES_CONNECTION", connection_string(proxy.port))
        runtime.reset()
        store = Store.from_settings(Settings.from_env())
        store.ensure_tables()
        Importer(store).run(parse(json.loads(DEMO_FILE.read_text())))
        assert post_validate(CONTOSO_BODY).status_code == 200
        assert request("GET", "v1/customers").status == 200

        # The tables are ready, so these calls start with reads that the client retries.
        proxy.stalled.set()
        validation, elapsed = timed(lambda: post_validate(CONTOSO_BODY))
        assert_unavailable(
            validation.status_code, validation.headers, error_of(validation)["code"], elapsed
        )
        listing, elapsed = timed(lambda: request("GET", "v1/customers"))
        assert_unavailable(listing.status, listing.headers, listing.body["error"]["code"], elapsed)

        proxy.stalled.clear()
        assert post_validate(CONTOSO_BODY).status_code == 200
        assert request("GET", "v1/customers").status == 200
    finally:
        proxy.close()


def test_stalled_audit_write_leaves_no_row(admin_env, own_azurite, table_prefix, monkeypatch):
    proxy = StallingProxy(own_azurite.port)
    try:
        monkeypatch.setenv("LICENSING_TABLES_CONNECTION", connection_string(proxy.port))
        runtime.reset()
        assert request("GET", "v1/customers").status == 200
        # Storage stops responding at the audit entry, after the customer row is written.
        proxy.stall_on = f"POST /{AZURITE_ACCOUNT}/{table_prefix}Audit ".encode()

        created, elapsed = timed(lambda: request("POST", "v1/customers", {"name": "Half Coffee"}))

        assert_unavailable(created.status, created.headers, created.body["error"]["code"], elapsed)
    finally:
        proxy.close()

    # Read from Azurite directly, past the proxy.
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", own_azurite.connection)
    runtime.reset()
    assert customers_named("Half Coffee") == []
    assert audit_entries("Half Coffee") == []


# Signing key file missing, then created


def test_missing_key_file_returns_503_then_recovers(demo, key_file, tmp_path, monkeypatch):
    key_path = tmp_path / "later" / "signing-key.pem"
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(key_path))
    runtime.reset()
    registered_before = demo.get_environment("9HTR-41KD-8QWE", "adventure-works.com")
    unknown = request_body("NOKEY-0001", "contoso.com", product(FABRIKAM, "RentalManagement"))
    automatic = request_body(
        "9HTR-41KD-8QWE", "adventure-works.com", product(FABRIKAM, "FleetTelematics")
    )

    for body in (unknown, automatic):
        response = post_validate(body)
        assert response.status_code == 503
        assert error_of(response)["code"] == "SIGNER_UNAVAILABLE"
        assert int(response.headers["Retry-After"]) > 0

    assert demo.get_environment("NOKEY-0001", "contoso.com") is None
    registered_after = demo.get_environment("9HTR-41KD-8QWE", "adventure-works.com")
    assert registered_after.etag == registered_before.etag
    customer_id = registered_after.customer_id
    _, licenses = demo.get_customer(customer_id)
    assert f"{FABRIKAM}|fleettelematics" not in licenses

    # The key file appears, and the same worker signs with it on the next request.
    key_path.parent.mkdir()
    shutil.copyfile(key_file, key_path)

    assert post_validate(unknown).status_code == 200
    assert demo.get_environment("NOKEY-0001", "contoso.com") is not None
    assert post_validate(automatic).status_code == 200
    _, licenses = demo.get_customer(customer_id)
    assert f"{FABRIKAM}|fleettelematics" in licenses
