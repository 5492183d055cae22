"""Load: 50 simulated environments against the development host on Azurite.

The development host (licensing.devhost.make_server, run by bench/server.py) serves
function_app on 127.0.0.1 in a process of its own. Each simulated environment is a
thread with one keep-alive connection that posts a validation, waits for the response
and posts the next one, with a fresh nonce each time, until the time is up. The
environments have distinct serials (bench/data.py): every demo serial, registered
serials of Bench customer 10, and new serials that the service records as
unregistered environments on their first request. Each environment first sends
WARMUP_REQUESTS unmeasured requests, so that the measured load finds every new serial
recorded and every cache filled.

The server's resident memory (VmRSS in /proc/PID/status) is read after the warm-up,
every second during the load, and once every client has finished.

Run alone with ``.venv/bin/python -m bench.load --seconds 60``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from . import data, environment, stats

CONCURRENCY = 50
DEFAULT_SECONDS = 60.0
WARMUP_REQUESTS = 3
# Each client stops after this many requests even if time is left, so that the
# loop is bounded in count as well as in time.
MAX_REQUESTS_PER_CLIENT = 100_000
REQUEST_TIMEOUT_SECONDS = 30.0
SERVER_START_SECONDS = 60.0
# The bound on the server's resident memory growth from the end of the warm-up to
# the end of the load. The service keeps no per-request state, so any lasting growth
# beyond allocator noise would be a leak.
RSS_GROWTH_BOUND_KIB = 8 * 1024
ERROR_SAMPLES = 5


@dataclass
class ClientLog:
    """Latencies and errors of one simulated environment during the measured load."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(message)


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    kinds: dict[str, int]
    latencies: list[float]
    errors: int
    error_samples: list[str]
    rss_start_kib: int
    rss_samples: list[tuple[float, int]]
    rss_end_kib: int
    storage: dict[str, int]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def rss_growth_kib(self) -> int:
        return self.rss_end_kib - self.rss_start_kib

    @property
    def rss_peak_kib(self) -> int:
        return max([self.rss_start_kib, self.rss_end_kib, *(rss for _, rss in self.rss_samples)])

    def rss_at(self, fraction: float) -> int:
        """Return the VmRSS sample taken nearest to ``fraction`` of the load's duration."""
        moment = fraction * self.seconds
        return min(self.rss_samples, key=lambda sample: abs(sample[0] - moment))[1]


class _Schedule:
    """The start and end of the measured load, shared by the main thread and the clients."""

    def __init__(self, parties: int) -> None:
        self.warmed_up = threading.Barrier(parties)
        self.started = threading.Barrier(parties)
        self.deadline = 0.0
        self.failed = threading.Event()


class _Client(threading.Thread):
    def __init__(self, port: int, simulated: data.SimulatedEnvironment, schedule: _Schedule):
        super().__init__(name=f"client-{simulated.serial_number}", daemon=True)
        self._port = port
        self._simulated = simulated
        self._schedule = schedule
        self._connection: http.client.HTTPConnection | None = None
        self.log = ClientLog()
        self.warmup_error: str | None = None

    def run(self) -> None:
        try:
            self._warm_up()
        except Exception as exc:
            self.warmup_error = f"{self._simulated.serial_number}: {exc!r}"
            self._schedule.failed.set()
        try:
            self._schedule.warmed_up.wait()
            self._schedule.started.wait()
        except threading.BrokenBarrierError:
            self._close()
            return

        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= self._schedule.deadline:
                break
            self._measured_request()
        self._close()

    def _warm_up(self) -> None:
        for _ in range(WARMUP_REQUESTS):
            status, body = self._post()
            if status != 200:
                raise RuntimeError(f"status {status}: {body[:300]!r}")

    def _measured_request(self) -> None:
        started = time.perf_counter()
        try:
            status, body = self._post()
        except (OSError, http.client.HTTPException) as exc:
            self.log.error(f"{self._simulated.serial_number}: {exc!r}")
            self._close()
            return

        elapsed = time.perf_counter() - started
        if status != 200 or b'"token"' not in body:
            self.log.error(f"{self._simulated.serial_number}: status {status}: {body[:300]!r}")
            return
        self.log.latencies.append(elapsed)

    def _post(self) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                environment.LOOPBACK, self._port, timeout=REQUEST_TIMEOUT_SECONDS
            )
        body = data.request_body(
            self._simulated.serial_number,
            self._simulated.tenant,
            list(self._simulated.products),
            secrets.token_urlsafe(16),
        )
        self._connection.request(
            "POST", "/api/v1/validate", body, {"Content-Type": "application/json"}
        )
        response = self._connection.getresponse()
        return response.status, response.read()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def run(env: environment.BenchEnvironment, seconds: float = DEFAULT_SECONDS) -> LoadResult:
    """Start the development host, put the load on it and stop it again."""
    simulated = data.simulated_environments(CONCURRENCY)
    stats_file = env.workspace / "server-stats.json"
    log_file = env.workspace / "server.log"
    with ExitStack() as stack:
        server, port = _start_server(env, stats_file, log_file)
        stack.callback(environment.stop_process, server)
        result = _load(server, port, simulated, seconds)
        environment.stop_process(server)

    storage = _storage_traffic(stats_file, log_file)
    return LoadResult(**result, storage=storage)


def _start_server(
    env: environment.BenchEnvironment, stats_file: Path, log_file: Path
) -> tuple[subprocess.Popen, int]:
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.server", str(stats_file)],
            cwd=environment.ROOT,
            env=env.child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        ready, _, _ = select.select([server.stdout], [], [], SERVER_START_SECONDS)
        line = server.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise environment.SetupError(
                "The development host did not start. Its log:\n"
                + log_file.read_text(errors="replace")
            )
    except BaseException:
        environment.stop_process(server)
        raise

    return server, int(line)


def _load(
    server: subprocess.Popen, port: int, simulated: list[data.SimulatedEnvironment], seconds: float
) -> dict:
    schedule = _Schedule(len(simulated) + 1)
    clients = [_Client(port, item, schedule) for item in simulated]
    for client in clients:
        client.start()

    try:
        schedule.warmed_up.wait(timeout=SERVER_START_SECONDS + REQUEST_TIMEOUT_SECONDS)
        if schedule.failed.is_set():
            failures = [client.warmup_error for client in clients if client.warmup_error]
            raise RuntimeError("Warm-up requests failed:\n" + "\n".join(failures[:ERROR_SAMPLES]))

        rss_start = _rss_kib(server.pid)
        os.kill(server.pid, signal.SIGUSR1)
        started = time.perf_counter()
        schedule.deadline = started + seconds
        schedule.started.wait()
    except BaseException:
        schedule.warmed_up.abort()
        schedule.started.abort()
        raise

    rss_samples = [(0.0, rss_start)]
    while time.perf_counter() < schedule.deadline:
        time.sleep(min(1.0, max(0.0, schedule.deadline - time.perf_counter())))
        rss_samples.append((time.perf_counter() - started, _rss_kib(server.pid)))
    for client in clients:
        client.join(REQUEST_TIMEOUT_SECONDS + 5)
    elapsed = time.perf_counter() - started
    rss_end = _rss_kib(server.pid)

    logs = [client.log for client in clients]
    return {
        "seconds": elapsed,
        "kinds": dict(Counter(item.kind for item in simulated)),
        "latencies": [value for log in logs for value in log.latencies],
        "errors": sum(log.errors for log in logs),
        "error_samples": [sample for log in logs for sample in log.error_samples][:ERROR_SAMPLES],
        "rss_start_kib": rss_start,
        "rss_samples": rss_samples,
        "rss_end_kib": rss_end,
    }


def _rss_kib(pid: int) -> int:
    """Read the resident set size of a process, in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


def _storage_traffic(stats_file: Path, log_file: Path) -> dict[str, int]:
    """Return the server's storage traffic during the measured load."""
    if not stats_file.exists():
        raise RuntimeError(
            "The development host wrote no traffic counts. Its log:\n"
            + log_file.read_text(errors="replace")
        )
    counts = json.loads(stats_file.read_text())
    return {name: counts["end"][name] - counts["marked"][name] for name in counts["end"]}


def report(result: LoadResult) -> str:
    """Render the result as a Markdown table followed by the targets."""
    latencies = result.latencies
    requests = len(latencies) + result.errors
    mix = ", ".join(f"{count} {kind}" for kind, count in result.kinds.items())
    rows = [
        ("simulated environments", f"{sum(result.kinds.values())} ({mix})"),
        ("duration s", f"{result.seconds:.1f}"),
        ("successful responses", f"{len(latencies)}"),
        ("throughput requests/s", f"{result.throughput:.1f}"),
        ("latency p50 ms", stats.ms(stats.percentile(latencies, 0.50))),
        ("latency p95 ms", stats.ms(stats.percentile(latencies, 0.95))),
        ("latency p99 ms", stats.ms(stats.percentile(latencies, 0.99))),
        ("latency max ms", stats.ms(max(latencies))),
        ("errors", f"{result.errors} of {requests}"),
        ("storage round trips / request", f"{result.storage['requests'] / requests:.2f}"),
        ("new storage connections", result.storage["connections"]),
        ("storage connections dropped (pool full)", result.storage["discarded_connections"]),
        ("server VmRSS after warm-up MiB", _mib(result.rss_start_kib)),
        (
            "server VmRSS at 1/4, 1/2, 3/4 of the load MiB",
            ", ".join(_mib(result.rss_at(fraction)) for fraction in (0.25, 0.5, 0.75)),
        ),
        ("server VmRSS peak MiB", _mib(result.rss_peak_kib)),
        ("server VmRSS at the end MiB", _mib(result.rss_end_kib)),
    ]
    growth = result.rss_growth_kib
    lines = [
        stats.table(("measure", "value"), rows),
        "",
        f"- No errors: {stats.verdict(result.errors == 0)}",
        f"- VmRSS growth at most {RSS_GROWTH_BOUND_KIB // 1024} MiB: "
        f"{stats.verdict(growth <= RSS_GROWTH_BOUND_KIB)} ({growth / 1024:+.1f} MiB)",
    ]
    lines += [f"  - error: {sample}" for sample in result.error_samples]
    return "\n".join(lines)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="duration of the measured load"
    )
    args = parser.parse_args(argv)

    environment.raise_on_sigterm()
    with environment.prepared() as env:
        print(report(run(env, args.seconds)))


if __name__ == "__main__":
    main()
