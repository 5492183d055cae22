"""Counts of the HTTP requests and connections that the storage client makes.

azure-data-tables sends its requests with azure-core's requests transport, which
uses urllib3. urllib3 logs each response it receives ('http://host:port "PUT /path
HTTP/1.1" 204 0') and each connection it opens at DEBUG level on the
``urllib3.connectionpool`` logger, and a connection that does not fit back into a
full pool at WARNING level. HttpTraffic counts those records, so the counts come from
the traffic itself and not from the service's description of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

LOGGER_NAME = "urllib3.connectionpool"


@dataclass(frozen=True)
class TrafficCounts:
    requests: int = 0
    connections: int = 0
    discarded_connections: int = 0

    def __sub__(self, other: TrafficCounts) -> TrafficCounts:
        return TrafficCounts(
            self.requests - other.requests,
            self.connections - other.connections,
            self.discarded_connections - other.discarded_connections,
        )


class HttpTraffic(logging.Handler):
    """Logging handler that counts urllib3's request, connection and full-pool records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._requests = 0
        self._connections = 0
        self._discarded = 0

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle holds the handler's lock around emit, so threads may share it.
        message = str(record.msg)
        if message.startswith("Starting new"):
            self._connections += 1
        elif message.startswith("Connection pool is full"):
            self._discarded += 1
        elif message.startswith('%s://%s:%s "%s %s %s"'):
            self._requests += 1

    def counts(self) -> TrafficCounts:
        with self.lock:
            return TrafficCounts(self._requests, self._connections, self._discarded)


@contextmanager
def counting() -> Iterator[HttpTraffic]:
    """Count urllib3's traffic in this process while the block runs."""
    logger = logging.getLogger(LOGGER_NAME)
    traffic = HttpTraffic()
    previous_level = logger.level
    logger.addHandler(traffic)
    logger.setLevel(logging.DEBUG)
    try:
        yield traffic
    finally:
        logger.removeHandler(traffic)
        logger.setLevel(previous_level)
