"""A throwaway Azurite, signing key and data set for one benchmark run.

``prepared()`` starts Azurite's table service on a free loopback port, with a data
folder of its own, and generates a signing key. It imports demo/demo-data.json and
the benchmark's own records (bench/data.py) under a fresh table prefix and points the
service's settings at them. Leaving the block stops Azurite and deletes the folder,
also when the benchmark fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from licensing import azurite as azurite_service

from . import data

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILE = ROOT / "demo" / "demo-data.json"

LOOPBACK = azurite_service.HOST

# The size of the signing keys that infra/hooks/postprovision.sh creates in Key
# Vault and `python -m licensing keys generate` writes by default.
KEY_BITS = 3072

# Settings that would send telemetry or change the service's configuration.
# They are removed so that a developer's shell does not change the figures.
CLEARED_SETTINGS = (
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "LICENSING_TABLES_ENDPOINT",
    "LICENSING_KEY_VAULT_URL",
    "LICENSING_SIGNING_KEY_NAME",
    "LICENSING_AUTH_TENANT_ID",
    "LICENSING_AUTH_AUDIENCE",
    "LICENSING_CATALOG_CACHE_SECONDS",
    "LICENSING_TIME_ZONE",
)


class SetupError(Exception):
    """A benchmark prerequisite failed. The message names the fix."""


class Stopped(Exception):
    """SIGTERM arrived; raised so that every started process is stopped on the way out."""


@dataclass(frozen=True)
class BenchEnvironment:
    """Location of the tables and the signing key of the service under test."""

    connection_string: str
    table_prefix: str
    key_file: Path
    workspace: Path

    def settings(self) -> dict[str, str]:
        """Return the environment variables that point the service at this run."""
        return {
            "LICENSING_TABLES_CONNECTION": self.connection_string,
            "LICENSING_TABLE_PREFIX": self.table_prefix,
            "LICENSING_SIGNING_KEY_FILE": str(self.key_file),
            "LICENSING_AUTH_DISABLED": "true",
            # The per-instance rate limits would reject most benchmark requests with
            # 429, because each simulated environment sends requests far more often
            # than hourly. 0 turns them off.
            "LICENSING_RATE_LIMIT_SERIAL_PER_HOUR": "0",
            "LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE": "0",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        }

    def child_environment(self) -> dict[str, str]:
        """Return this process's environment with the service settings, for child processes."""
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_SETTINGS}
        env.update(self.settings())
        return env


free_port = azurite_service.free_port


# Terminates a child and waits for it, killing it after the stop timeout.
stop_process = azurite_service.stop


def raise_on_sigterm() -> None:
    """Turn SIGTERM into Stopped, so that cleanup code runs as it does for Ctrl-C."""

    def handle(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)


@contextmanager
def prepared() -> Iterator[BenchEnvironment]:
    """Start Azurite, write a key and the data, and apply the service settings to os.environ."""
    workspace = Path(tempfile.mkdtemp(prefix="licensing-bench-"))
    try:
        with azurite(workspace) as connection_string:
            environment = BenchEnvironment(
                connection_string=connection_string,
                table_prefix="bench" + uuid.uuid4().hex[:10],
                key_file=workspace / "signing-key.pem",
                workspace=workspace,
            )
            _apply(environment)
            _write_key(environment.key_file)
            _import_data()
            yield environment
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


@contextmanager
def azurite(workspace: Path) -> Iterator[str]:
    """Run Azurite's table service with its data in ``workspace``; yield its connection string."""
    location = workspace / "azurite"
    location.mkdir()
    port = free_port()
    try:
        # Its own session keeps a Ctrl-C in the terminal from stopping it before
        # the benchmark's cleanup does.
        process = azurite_service.start(port, location, workspace / "azurite.log", True)
    except azurite_service.StartError as exc:
        raise SetupError(str(exc)) from None

    try:
        yield azurite_service.connection_string(port)
    finally:
        azurite_service.stop(process)


def _apply(environment: BenchEnvironment) -> None:
    for name in CLEARED_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(environment.settings())


def _write_key(path: Path) -> None:
    from licensing.signing import generate_key

    generate_key(path, KEY_BITS)


def _import_data() -> None:
    """Import the demo data and the benchmark's records with the service's importer."""
    from licensing.importer import Importer, parse
    from licensing.settings import Settings
    from licensing.storage import Store

    store = Store.from_settings(Settings.from_env())
    store.ensure_tables()
    for document in (json.loads(DEMO_FILE.read_text()), data.document()):
        Importer(store).run(parse(document))
