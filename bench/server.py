"""The development host in a process of its own, for the load benchmark.

``python -m bench.server STATS_FILE`` serves function_app with
licensing.devhost.make_server on a free port of 127.0.0.1 and prints the port on its
first line of output. SIGUSR1 marks the start of the measured load. On SIGTERM it
stops and writes to STATS_FILE, as JSON, the HTTP traffic to storage at the mark and
at the end (see bench/traffic.py). The service settings come from the environment.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from .traffic import counting


def main() -> None:
    stats_file = Path(sys.argv[1])
    # WARNING keeps the host's per-request INFO line out of the measurement; errors
    # are still written to the log file that bench/load.py keeps.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    from function_app import app
    from licensing.devhost import make_server

    stop = threading.Event()
    mark = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: mark.set())

    with counting() as traffic:
        server = make_server(app, "127.0.0.1", 0, "api")
        thread = threading.Thread(target=server.serve_forever, name="devhost", daemon=True)
        thread.start()
        print(server.server_address[1], flush=True)

        marked = traffic.counts()
        while not stop.wait(0.1):
            if mark.is_set():
                marked = traffic.counts()
                mark.clear()

        server.shutdown()
        server.server_close()
        counts = {"marked": dataclasses.asdict(marked), "end": dataclasses.asdict(traffic.counts())}
    stats_file.write_text(json.dumps(counts))


if __name__ == "__main__":
    main()
