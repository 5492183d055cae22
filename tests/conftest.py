"""Shared fixtures: an Azurite table service for the test session, table prefixes."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from licensing import azurite as azurite_service

# The Azure Monitor packages read these variables when they are configured. With
# them they skip the cloud metadata endpoints and send no statsbeat telemetry.
os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "otel")
os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
os.environ.setdefault("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")

# Names the test modules import; licensing/azurite.py defines them.
AZURITE_TABLE = azurite_service.TABLE_SERVICE
AZURITE_HOST = azurite_service.HOST
AZURITE_STOP_SECONDS = azurite_service.STOP_SECONDS
AZURITE_ACCOUNT = azurite_service.ACCOUNT
AZURITE_KEY = azurite_service.KEY
azurite_command = azurite_service.command
free_port = azurite_service.free_port
stop = azurite_service.stop


def wait_for_port(process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    """Wait until Azurite accepts connections, and fail with its output if it does not."""
    try:
        azurite_service.wait_for_port(process, port, log_file)
    except azurite_service.StartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Azurite's table service and return its connection string."""
    workspace = tmp_path_factory.mktemp("azurite")
    location = workspace / "data"
    location.mkdir()
    port = free_port()
    try:
        process = azurite_service.start(port, location, workspace / "azurite.log")
    except azurite_service.StartError as exc:
        pytest.fail(str(exc), pytrace=False)

    try:
        yield azurite_service.connection_string(port)
    finally:
        stop(process)


@pytest.fixture
def table_prefix() -> str:
    """Return a table-name prefix unique to the test: a letter and 10 hex digits."""
    return "t" + uuid.uuid4().hex[:10]


# Service fixtures: settings on fresh tables, demo data, the clock.
pytest_plugins = ["tests.fixtures"]
