"""Shared fixtures: an Azurite table service for the test session, table prefixes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The Azure Monitor packages read these variables when they are configured. With
# them they skip the cloud metadata endpoints and send no statsbeat telemetry.
os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "otel")
os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
os.environ.setdefault("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_TABLE = REPO_ROOT / "node_modules" / ".bin" / "azurite-table"
AZURITE_HOST = "127.0.0.1"
AZURITE_START_SECONDS = 30.0
AZURITE_STOP_SECONDS = 10.0

# Azurite's fixed development account. The key is public, documented with
# Azurite, and accepted by no real storage account.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((AZURITE_HOST, 0))
        return probe.getsockname()[1]


def azurite_command(port: int, location: Path) -> list[str]:
    return [
        str(AZURITE_TABLE),
        "--tableHost",
        AZURITE_HOST,
        "--tablePort",
        str(port),
        "--location",
        str(location),
        # Without this flag Azurite sends usage telemetry to Microsoft.
        "--disableTelemetry",
        # Azurite rejects an x-ms-version newer than its release supports, and
        # headers that it does not implement. Azure accepts both.
        "--skipApiVersionCheck",
        "--loose",
    ]


def wait_for_port(process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    """Wait until Azurite accepts connections, and fail with its output if it does not."""
    deadline = time.monotonic() + AZURITE_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail_start(f"exited with code {process.returncode}", log_file)
        try:
            with socket.create_connection((AZURITE_HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    fail_start(f"did not accept connections within {AZURITE_START_SECONDS:.0f} s", log_file)


def fail_start(reason: str, log_file: Path) -> None:
    output = log_file.read_text(errors="replace").strip() or "(no output)"
    pytest.fail(f"Azurite table service {reason}. Its output:\n{output}", pytrace=False)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=AZURITE_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Azurite's table service and return its connection string."""
    if not AZURITE_TABLE.exists():
        pytest.fail(
            f"{AZURITE_TABLE} is missing; run `make node_modules` to install Azurite",
            pytrace=False,
        )

    workspace = tmp_path_factory.mktemp("azurite")
    location = workspace / "data"
    location.mkdir()
    log_file = workspace / "azurite.log"
    port = free_port()

    # Output goes to a file, because a pipe that is never read would fill up and
    # block Azurite.
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            azurite_command(port, location),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workspace,
        )
    try:
        wait_for_port(process, port, log_file)
        yield (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"TableEndpoint=http://{AZURITE_HOST}:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        stop(process)


@pytest.fixture
def table_prefix() -> str:
    """Return a table-name prefix unique to the test: a letter and 10 hex digits."""
    return "t" + uuid.uuid4().hex[:10]


# Service fixtures: settings on fresh tables, demo data, the clock.
pytest_plugins = ["tests.fixtures"]
