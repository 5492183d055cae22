"""A description of the machine and software that a benchmark ran on, read at run time."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata

from .environment import ROOT

PACKAGES = (
    "azure-functions",
    "azure-data-tables",
    "azure-core",
    "cryptography",
    "requests",
    "urllib3",
)
LSCPU_FIELDS = (
    "Model name",
    "Architecture",
    "CPU(s)",
    "Thread(s) per core",
    "Core(s) per socket",
    "Hypervisor vendor",
)


def describe() -> str:
    """Return a Markdown list of the machine, the interpreter and the package versions."""
    lines = [
        f"- `nproc`: {_command(['nproc'])}",
        f"- `lscpu`: {_lscpu()}",
        f"- `free -h`: {_memory()}",
        f"- OS: {platform.platform()}",
        f"- Python: {sys.version.split()[0]} ({sys.executable})",
        f"- packages: {', '.join(f'{name} {_version(name)}' for name in PACKAGES)}",
        f"- Node.js: {_command(['node', '--version'])}, Azurite {_azurite_version()}",
        f"- load average at the start (1, 5, 15 min): {load_average()}",
    ]
    return "\n".join(lines)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _command(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"

    return completed.stdout.strip() or "unavailable"


def _lscpu() -> str:
    fields = {}
    for line in _command(["lscpu"]).splitlines():
        name, _, value = line.partition(":")
        if name.strip() in LSCPU_FIELDS:
            fields[name.strip()] = " ".join(value.split())
    return "; ".join(f"{name} {fields[name]}" for name in LSCPU_FIELDS if name in fields)


def _memory() -> str:
    """Return the Mem line of ``free -h``: total, used and available."""
    lines = _command(["free", "-h"]).splitlines()
    header = lines[0].split() if lines else []
    for line in lines[1:]:
        if line.startswith("Mem:"):
            values = dict(zip(header, line.split()[1:], strict=False))
            return ", ".join(
                f"{name} {values[name]}"
                for name in ("total", "used", "available")
                if name in values
            )
    return "unavailable"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _azurite_version() -> str:
    try:
        return json.loads((ROOT / "node_modules" / "azurite" / "package.json").read_text())[
            "version"
        ]
    except (OSError, ValueError, KeyError):
        return "unknown"
