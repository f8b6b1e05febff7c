"""Per-client limits and the cap on request bodies being read at once.

* :class:`ClientLimits`: each client (its IP address) may have at most ``max_active`` requests in progress and
  may start ``rate_per_min`` per minute (a token bucket, bursts up to ``burst``); beyond either the service
  answers 429 with ``Retry-After``. Behind a reverse proxy every client has the proxy's address: set the limits
  in the proxy there.
* :class:`UploadGate`: at most ``max_uploads`` bodies are read at once (each one bounded in size and time),
  so slow uploads cannot pile up memory; the inference queue slot is taken only once a body is in.

Both are used from the event loop only (no locks needed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class LimitExceeded(Exception):
    """A request over a limit: ``status_code`` (429 or 503), a message and ``retry_after_s``."""

    def __init__(self, status_code: int, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated_s: float
    active: int = 0


@dataclass
class ClientLimits:
    """Concurrent requests and request rate per client; 0 switches a limit off.

    Args:
        max_active: requests one client may have in progress (reading, waiting or running).
        rate_per_min: requests one client may start per minute, on average.
        burst: requests one client may start at once before the rate applies (default: ``max(1, rate / 6)``).
    """

    max_active: int = 8
    rate_per_min: float = 120.0
    burst: int | None = None
    clock: Callable[[], float] = time.monotonic
    max_clients: int = 10_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    rejected: int = 0

    @property
    def capacity(self) -> float:
        return float(self.burst if self.burst is not None else max(1, math.ceil(self.rate_per_min / 6)))

    def acquire(self, client: str) -> None:
        """Count one request of ``client`` in, or raise :class:`LimitExceeded` (429). Pair with :meth:`release`."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(tokens=self.capacity, updated_s=now)
        if self.max_active and bucket.active >= self.max_active:
            self.rejected += 1
            raise LimitExceeded(
                429, f"too many requests in progress from {client} (at most {self.max_active} at once)", 1
            )
        if self.rate_per_min > 0:
            per_s = self.rate_per_min / 60.0
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated_s) * per_s)
            bucket.updated_s = now
            if bucket.tokens < 1.0:
                self.rejected += 1
                wait_s = max(1, math.ceil((1.0 - bucket.tokens) / per_s))
                raise LimitExceeded(
                    429, f"too many requests from {client} (at most {self.rate_per_min:g} per minute)", wait_s
                )
            bucket.tokens -= 1.0
        bucket.active += 1

    def release(self, client: str) -> None:
        bucket = self._buckets.get(client)
        if bucket is not None:
            bucket.active = max(0, bucket.active - 1)

    def _forget_idle(self, now: float) -> None:
        """Drop clients with nothing in progress and a full bucket (bounded memory under many addresses)."""
        per_s = self.rate_per_min / 60.0
        for key in [
            k
            for k, b in self._buckets.items()
            if b.active == 0 and (per_s <= 0 or b.tokens + (now - b.updated_s) * per_s >= self.capacity)
        ]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_clients:
            raise LimitExceeded(503, "the server is tracking too many clients; retry shortly", 5)


@dataclass
class UploadGate:
    """At most ``max_uploads`` request bodies read at once; beyond it :meth:`enter` raises 503."""

    max_uploads: int = 64
    reading: int = 0
    rejected: int = 0

    def enter(self) -> None:
        if self.reading >= self.max_uploads:
            self.rejected += 1
            raise LimitExceeded(503, f"the server is receiving {self.reading} uploads; retry shortly", 2)
        self.reading += 1

    def leave(self) -> None:
        self.reading = max(0, self.reading - 1)
