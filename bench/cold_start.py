"""Cold start: a fresh process that imports function_app and processes its first validation.

Each run starts a new interpreter (bench/cold_child.py) and times it from its first
statement to the response. The floor runs alternate with the service runs. They import
only azure.functions, azure.data.tables and cryptography's RSA, and make the storage
calls of a registered environment's first validation: environment read, catalog query,
customer partition query and environment update. Then they load the same PEM key and
sign once. Both use the environment BENCH-0010 with its 10 products.

Every module is loaded from compiled bytecode: the children write it to a folder of
the run (PYTHONPYCACHEPREFIX), and a first pair of runs, which compiles it, is not
counted. Where bytecode cannot be written (PYTHONDONTWRITEBYTECODE), the service
would compile its own modules on each start while the floor's packages come with
bytecode from pip, and the comparison would measure that difference instead.

Run alone with ``.venv/bin/python -m bench.cold_start``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass

from . import data, environment, stats

TARGET_RATIO = 1.3
DEFAULT_RUNS = 7
CHILD_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class ColdRun:
    seconds: float
    import_seconds: float
    process_seconds: float
    requests: int
    connections: int
    heavy_modules: tuple[str, ...]


@dataclass(frozen=True)
class ColdStartResult:
    service: list[ColdRun]
    floor: list[ColdRun]

    @property
    def ratio(self) -> float:
        return _median(self.service, "seconds") / _median(self.floor, "seconds")


def run(env: environment.BenchEnvironment, runs: int = DEFAULT_RUNS) -> ColdStartResult:
    """Alternate service and floor runs; the service settings must point at a prepared run."""
    from licensing import keys

    serial = data.sized_serial(10)
    body_file = env.workspace / "cold-start-request.json"
    body_file.write_bytes(
        data.request_body(serial, data.BENCH_TENANT, data.bench_products(10), "c" * 22)
    )
    service_arguments = ["service", str(body_file)]

    service, floor = [], []
    for index in range(runs + 1):
        service_run, signed_bytes = _child(env, service_arguments)
        floor_arguments = ["floor", keys.encode(serial), data.BENCH_TENANT, str(signed_bytes)]
        floor_run, _ = _child(env, floor_arguments)
        if index > 0:
            service.append(service_run)
            floor.append(floor_run)

    return ColdStartResult(service, floor)


def _child(env: environment.BenchEnvironment, arguments: list[str]) -> tuple[ColdRun, int]:
    command = [sys.executable, "-m", "bench.cold_child", *arguments]
    child_env = env.child_environment()
    child_env.pop("PYTHONDONTWRITEBYTECODE", None)
    child_env["PYTHONPYCACHEPREFIX"] = str(env.workspace / "pycache")

    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=environment.ROOT,
        env=child_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    process_seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"cold start {arguments[0]} exited with code {completed.returncode}:\n"
            f"{completed.stderr.strip()}"
        )

    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"cold start {arguments[0]} returned status {result['status']}")

    cold_run = ColdRun(
        seconds=result["seconds"],
        import_seconds=result["import_seconds"],
        process_seconds=process_seconds,
        requests=result["requests"],
        connections=result["connections"],
        heavy_modules=tuple(result["heavy_modules"]),
    )
    return cold_run, result["signed_bytes"]


def _median(runs: list[ColdRun], name: str) -> float:
    return stats.median([getattr(item, name) for item in runs])


def report(result: ColdStartResult) -> str:
    """Render the result as a Markdown table followed by the targets."""
    rows = []
    for label, runs in (
        ("import function_app, first validation", result.service),
        ("floor: required imports, same storage calls, key load, one signature", result.floor),
    ):
        heavy = sorted(
            {
                name.split(".")[0] + "." + name.split(".")[1] if "." in name else name
                for item in runs
                for name in item.heavy_modules
            }
        )
        rows.append(
            (
                label,
                stats.ms(_median(runs, "seconds")),
                stats.ms(_median(runs, "import_seconds")),
                stats.ms(_median(runs, "process_seconds")),
                _spread(runs),
                f"{stats.median([item.requests for item in runs]):g}",
                f"{stats.median([item.connections for item in runs]):g}",
                ", ".join(heavy) or "none",
            )
        )
    header = (
        "run",
        "first response ms",
        "of which imports ms",
        "whole process ms",
        "min-max ms",
        "round trips",
        "connections",
        "heavy packages loaded",
    )
    service_heavy = {name for item in result.service for name in item.heavy_modules}
    lines = [
        f"Medians of {len(result.service)} runs each, alternated, after one unmeasured pair.",
        "",
        stats.table(header, rows),
        "",
        f"- First response at most {TARGET_RATIO} times the floor: "
        f"{stats.verdict(result.ratio <= TARGET_RATIO)} ({result.ratio:.2f})",
        "- No Azure Identity, Key Vault, Azure Monitor or OpenTelemetry package loaded: "
        f"{stats.verdict(not service_heavy)}",
    ]
    return "\n".join(lines)


def _spread(runs: list[ColdRun]) -> str:
    values = [item.seconds for item in runs]
    return f"{stats.ms(min(values))}-{stats.ms(max(values))}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="measured runs of each kind")
    args = parser.parse_args(argv)

    environment.raise_on_sigterm()
    with environment.prepared() as env:
        print(report(run(env, args.runs)))


if __name__ == "__main__":
    main()
