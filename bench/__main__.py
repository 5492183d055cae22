"""Run every benchmark against one throwaway Azurite and print the results as Markdown.

``make bench`` runs ``.venv/bin/python -m bench``. BENCH_SECONDS (or --seconds) sets
the duration of the load benchmark, 60 s by default. Azurite, the development host
and every other process that the run starts are stopped at the end, also after a
failure, Ctrl-C or SIGTERM. The exit status is 1 when a benchmark failed or the load
saw an error; a missed ratio target is reported in the tables only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from . import breakdown, cold_start, environment, load, machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS") or load.DEFAULT_SECONDS),
        help="duration of the load benchmark in seconds (default: BENCH_SECONDS, else 60)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=breakdown.DEFAULT_ITERATIONS,
        help="measured requests per size in the cost breakdown",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=cold_start.DEFAULT_RUNS,
        help="measured cold starts of each kind",
    )
    args = parser.parse_args(argv)
    environment.raise_on_sigterm()

    started = time.monotonic()
    command = " ".join(shlex.quote(part) for part in [sys.executable, "-m", "bench", *sys.argv[1:]])
    print("# License service benchmarks\n")
    print(f"Command: `{command}` (load {args.seconds:g} s)\n")
    print(machine.describe() + "\n", flush=True)

    with environment.prepared() as env:
        _progress("cost breakdown")
        print("## Cost breakdown\n")
        print(breakdown.report(breakdown.run(args.iterations)) + "\n", flush=True)

        _progress("cold start")
        print("## Cold start\n")
        print(cold_start.report(cold_start.run(env, args.runs)) + "\n", flush=True)

        _progress(f"load for {args.seconds:g} s")
        print("## Load\n")
        result = load.run(env, args.seconds)
        print(load.report(result) + "\n")

    print(f"Load average at the end (1, 5, 15 min): {machine.load_average()}.")
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return 1 if result.errors else 0


def _progress(step: str) -> None:
    print(f"bench: running the {step}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except environment.SetupError as exc:
        sys.exit(f"bench: {exc}")
    except (KeyboardInterrupt, environment.Stopped):
        sys.exit("bench: stopped; every process that it started has been stopped")
