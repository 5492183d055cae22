"""Azurite's table service for local runs, tests and benchmarks (never used in Azure).

Started from the npm package pinned in package.json, on loopback only.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

TABLE_SERVICE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "azurite-table"
HOST = "127.0.0.1"
START_SECONDS = 30.0
STOP_SECONDS = 10.0

# Azurite's fixed development account. The key is public, documented with
# Azurite, and accepted by no real storage account.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class StartError(RuntimeError):
    """A failed Azurite start; the message contains the reason and its output."""


def command(port: int, location: Path) -> list[str]:
    return [
        str(TABLE_SERVICE),
        "--tableHost",
        HOST,
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


def connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT};"
        f"AccountKey={KEY};"
        f"TableEndpoint=http://{HOST}:{port}/{ACCOUNT};"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start(port: int, location: Path, log_file: Path, new_session: bool = False) -> subprocess.Popen:
    """Start the table service and wait until it accepts connections.

    Output goes to ``log_file``, because an unread pipe would fill up and block
    Azurite. ``new_session`` keeps a Ctrl-C in the terminal from reaching it
    before the caller's cleanup does. Raises StartError, with nothing left running.
    """
    if not TABLE_SERVICE.exists():
        raise StartError(f"{TABLE_SERVICE} is missing; run `make node_modules` to install Azurite")

    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command(port, location),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=location.parent,
            start_new_session=new_session,
        )
    try:
        wait_for_port(process, port, log_file)
    except StartError:
        stop(process)
        raise

    return process


def wait_for_port(process: subprocess.Popen, port: int, log_file: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _fail(f"exited with code {process.returncode}", log_file)
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)

    _fail(f"did not accept connections within {START_SECONDS:.0f} s", log_file)


def _fail(reason: str, log_file: Path) -> None:
    output = log_file.read_text(errors="replace").strip() or "(no output)"
    raise StartError(f"Azurite's table service {reason}. Its output:\n{output}")


def stop(process: subprocess.Popen) -> None:
    """Terminate Azurite and wait for it; kill it after STOP_SECONDS."""
    if process.poll() is not None:
        return

    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
