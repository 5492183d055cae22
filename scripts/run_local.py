"""Run the license service on this machine with Azurite and the demo data.

``make run`` calls this script. It starts Azurite's table service, creates the
development signing key if it is missing, imports demo/demo-data.json and serves
the API on http://localhost:7071/api: with ``func start`` when Azure Functions Core
Tools are installed, and with the development host (licensing/devhost.py)
otherwise. Ctrl-C or SIGTERM stops everything it started, and so does a failed step.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from licensing import azurite  # noqa: E402  (the repository root is on the path only now)

AZURITE_TABLE = azurite.TABLE_SERVICE
AZURITE_DATA = REPO_ROOT / ".azurite"
AZURITE_LOG = AZURITE_DATA / "azurite.log"
DEMO_DATA = REPO_ROOT / "demo" / "demo-data.json"
KEY_FILE = REPO_ROOT / ".dev" / "signing-key.pem"
SETTINGS_FILE = REPO_ROOT / "local.settings.json"
SETTINGS_SAMPLE = REPO_ROOT / "local.settings.sample.json"

LOOPBACK = "127.0.0.1"
# UseDevelopmentStorage=true points the Azure SDK at this table port.
AZURITE_PORT = 10002
API_PORT = 7071
API_URL = f"http://localhost:{API_PORT}/api"

AZURITE_START_SECONDS = 30.0
# func start launches a .NET host and then a Python worker, so it needs more time
# than the development host. The limit is an estimate.
API_START_SECONDS = 120.0
STOP_SECONDS = 10.0

ENV_DEFAULTS = {
    "LICENSING_TABLES_CONNECTION": "UseDevelopmentStorage=true",
    "LICENSING_SIGNING_KEY_FILE": str(KEY_FILE),
    "LICENSING_AUTH_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
}

EXAMPLE_COMMAND = (
    ".venv/bin/python -m licensing validate --url http://localhost:7071/api "
    "--serial 5KQ2-77XD-9WMA --tenant contoso.com "
    "--product 3f2b6c1e-8d4a-4f0b-9a57-0c6e2d9b1a44:RentalManagement:"
    "ISVRentalManagement:10.0.43.202506241 --public-key .dev/signing-key.pem"
)


class StepError(Exception):
    """A failed step. The message names the step and what to do."""


class StopRequested(Exception):
    """A request to stop, from SIGINT or SIGTERM."""


@dataclass
class Child:
    """A long-running process that this script started in its own session."""

    name: str
    process: subprocess.Popen[bytes]


class StopSignals:
    """Handler that turns SIGINT and SIGTERM into StopRequested, except while a child starts.

    Raising inside subprocess.Popen could lose a child that has already started,
    so a signal that arrives then is raised once the child is recorded.
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.deferring:
            self.pending = name
            return
        raise StopRequested(name)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            raise StopRequested(self.pending)


stop_signals = StopSignals()


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    for name, value in ENV_DEFAULTS.items():
        env.setdefault(name, value)
    return env


def require_free_port(port: int, needed_by: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Azurite (Node.js) and the development host set SO_REUSEADDR too, so a
        # port that only has connections in TIME_WAIT from a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise StepError(
                f"port {port} on {LOOPBACK}, needed by {needed_by}, is in use ({error}). "
                "Stop the process that listens on it and run again"
            ) from None


def start_child(
    children: list[Child],
    name: str,
    command: list[str],
    env: dict[str, str],
    log_file: Path | None = None,
) -> Child:
    """Start a long-running child and append it to children."""
    logger.info("Starting %s: %s", name, " ".join(command))
    with stop_signals.deferred(), ExitStack() as stack:
        output = stack.enter_context(log_file.open("wb")) if log_file else None
        # A session of its own keeps Ctrl-C in the terminal from reaching the
        # child, so that this script stops the children one by one, API first.
        try:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
            )
        except OSError as error:
            raise StepError(f"could not start {name}: {error}") from None
        child = Child(name, process)
        children.append(child)
    return child


def start_azurite(children: list[Child], env: dict[str, str]) -> Child:
    if not AZURITE_TABLE.exists():
        raise StepError(f"{AZURITE_TABLE} is missing. Run `make node_modules` to install it")

    AZURITE_DATA.mkdir(exist_ok=True)
    command = azurite.command(AZURITE_PORT, AZURITE_DATA)
    return start_child(children, "Azurite", command, env, log_file=AZURITE_LOG)


def start_api(children: list[Child], env: dict[str, str]) -> Child:
    func = shutil.which("func")
    if func is None:
        logger.info(
            "Azure Functions Core Tools (func) not found, so the development host serves the API"
        )
        command = [sys.executable, "-m", "licensing", "serve"]
        command += ["--host", LOOPBACK, "--port", str(API_PORT)]
        return start_child(children, "the development host", command, env)

    ensure_local_settings()
    # The Python worker of func start runs the first python on PATH, which has to
    # be this virtual environment's, with the app's packages.
    func_env = dict(env)
    venv_bin = str(Path(sys.executable).parent)
    func_env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    command = [func, "start", "--port", str(API_PORT)]
    return start_child(children, "func start", command, func_env)


def ensure_local_settings() -> None:
    if SETTINGS_FILE.exists():
        return
    if not SETTINGS_SAMPLE.exists():
        raise StepError(
            f"{SETTINGS_SAMPLE.name} is missing, so {SETTINGS_FILE.name} for func "
            "start cannot be made from it"
        )
    shutil.copyfile(SETTINGS_SAMPLE, SETTINGS_FILE)
    logger.info("Wrote %s from %s", SETTINGS_FILE.name, SETTINGS_SAMPLE.name)


def wait_for_port(child: Child, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        exit_code = child.process.poll()
        if exit_code is not None:
            raise StepError(
                f"{child.name} exited with code {exit_code} before it accepted "
                f"connections on port {port}{log_hint(child)}"
            )
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                logger.info("%s is listening on %s:%d", child.name, LOOPBACK, port)
                return
        except OSError:
            time.sleep(0.2)
    raise StepError(
        f"{child.name} did not accept connections on port {port} within "
        f"{seconds:.0f} s{log_hint(child)}"
    )


def log_hint(child: Child) -> str:
    """Return the end of Azurite's log for an error message, or nothing."""
    if child.name != "Azurite" or not AZURITE_LOG.exists():
        return ""
    lines = AZURITE_LOG.read_text(errors="replace").splitlines()[-20:]
    return f". The end of {AZURITE_LOG}:\n" + "\n".join(lines)


def run_step(description: str, command: list[str], env: dict[str, str]) -> None:
    logger.info("Running %s", " ".join(command))
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise StepError(
            f"could not {description}: `{' '.join(command)}` exited with code {result.returncode}"
        )


def print_endpoints() -> None:
    print(
        "\nThe license service is running with the demo data.\n"
        f"  Validate: POST {API_URL}/v1/validate\n"
        f"  Keys:     GET  {API_URL}/v1/keys\n"
        f"  Health:   GET  {API_URL}/v1/health\n"
        "Validate as a FinOps environment would, from another terminal:\n"
        f"  {EXAMPLE_COMMAND}\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )


def watch(children: list[Child]) -> None:
    """Poll the children until one exits, then raise StepError."""
    while True:
        for child in children:
            exit_code = child.process.poll()
            if exit_code is not None:
                raise StepError(f"{child.name} exited with code {exit_code}{log_hint(child)}")
        time.sleep(0.5)


def run(env: dict[str, str], children: list[Child]) -> None:
    require_free_port(AZURITE_PORT, "Azurite")
    require_free_port(API_PORT, "the API")

    azurite = start_azurite(children, env)
    wait_for_port(azurite, AZURITE_PORT, AZURITE_START_SECONDS)

    python = [sys.executable, "-m", "licensing"]
    key_file = env["LICENSING_SIGNING_KEY_FILE"]
    run_step("create the signing key", [*python, "keys", "generate", "--out", key_file], env)
    run_step("import the demo data", [*python, "import", str(DEMO_DATA)], env)

    api = start_api(children, env)
    wait_for_port(api, API_PORT, API_START_SECONDS)

    print_endpoints()
    watch(children)


def stop_child(child: Child) -> None:
    if child.process.poll() is not None:
        return
    logger.info("Stopping %s", child.name)
    # SIGINT is what Ctrl-C sends, the usual way to stop func start. Azurite saves
    # its data and exits on it, and so does the development host.
    os.killpg(child.process.pid, signal.SIGINT)
    try:
        child.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop within %.0f s, so it is killed", child.name, STOP_SECONDS)
        os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="run_local: %(message)s")
    stop_signals.install()

    children: list[Child] = []
    try:
        run(child_environment(), children)
    except StopRequested as stop:
        logger.info("Received %s; stopping", stop)
        return 0
    except StepError as error:
        logger.error("Failed: %s", error)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        for child in reversed(children):
            stop_child(child)
    return 0


if __name__ == "__main__":
    sys.exit(main())
