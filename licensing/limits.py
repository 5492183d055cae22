"""Per-instance abuse limits: validations per serial number and per client address.

Each key gets a token bucket: ``capacity`` requests, refilled evenly over
``period`` seconds. Buckets live in this worker's memory only, so several
instances each allow the full rate; limits across instances belong in front
of the app (Azure API Management or Front Door, see docs/security.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .errors import LicensingError

# Buckets kept at most; the least recently used go first, so memory is bounded.
MAX_KEYS = 100_000


class RateLimited(LicensingError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self,
        capacity: int,
        period: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / period if capacity else 0.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_time(self, key: str) -> float:
        """Take one request for ``key``; return 0, or the seconds until one is allowed."""
        if not self.capacity:
            return 0.0

        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - updated) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)

        return wait

    def check(self, key: str, what: str) -> None:
        wait = self.wait_time(key)
        if wait:
            raise RateLimited(
                f"Too many validations for {what}: retry after {math.ceil(wait)} s.",
                math.ceil(wait),
            )


def client_address(forwarded_for: str | None) -> str:
    """Return the caller's address from X-Forwarded-For, without its port."""
    first = (forwarded_for or "").split(",")[0].strip()
    if first.startswith("["):
        return first[1 : first.find("]")] if "]" in first else first
    if first.count(":") == 1:
        return first.split(":")[0]
    return first or "unknown"
