"""A bounded queue of inference work: ``workers`` threads run jobs, at most ``queue_size`` more wait.

A request that finds the queue full is refused at once (the service answers 503 with ``Retry-After``) instead of
piling up memory and latency. Jobs run in a thread pool so the event loop keeps answering ``/health`` and
refusing overload while the model works.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The queue holds ``capacity`` jobs already; ``retry_after_s`` estimates when a slot frees up."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"busy: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class WorkQueue:
    """Admission control plus a thread pool. Use from the event loop only (the counters are not locked).

    Args:
        workers: jobs that run at once (threads).
        queue_size: jobs that may wait for a free worker; beyond ``workers + queue_size`` admitted jobs,
            :meth:`admit` raises :class:`QueueFull`.
    """

    def __init__(self, workers: int = 1, queue_size: int = 8) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {queue_size}")
        self.workers = workers
        self.queue_size = queue_size
        self.capacity = workers + queue_size
        self.admitted = 0
        self.running = 0
        self.completed = 0
        self.rejected = 0
        self._mean_job_s = 1.0
        self._stats_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emofuse-infer")

    def admit(self) -> None:
        """Take a slot for one request, or raise :class:`QueueFull`. Pair with :meth:`release`."""
        if self.admitted >= self.capacity:
            self.rejected += 1
            waiting_rounds = math.ceil((self.admitted - self.workers + 1) / self.workers)
            raise QueueFull(max(1, math.ceil(self._mean_job_s * max(1, waiting_rounds))))
        self.admitted += 1

    def release(self) -> None:
        self.admitted = max(0, self.admitted - 1)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in the pool (for an admitted request) and await its result."""
        loop = asyncio.get_running_loop()

        def job() -> T:
            start = time.perf_counter()
            with self._stats_lock:
                self.running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with self._stats_lock:
                    self.running -= 1
                    self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * elapsed
                    self.completed += 1

        return await loop.run_in_executor(self._executor, job)

    def stats(self) -> dict[str, int | float]:
        """Counters for ``/health``."""
        return {
            "workers": self.workers,
            "queue_size": self.queue_size,
            "admitted": self.admitted,
            "waiting": max(0, self.admitted - self.workers),
            "completed": self.completed,
            "rejected": self.rejected,
            "mean_job_s": round(self._mean_job_s, 4),
        }

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
