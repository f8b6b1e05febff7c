"""Native thread pools of worker processes: one definition for the grid's workers and the service's workers.

The libraries under numpy, librosa, torch and the tokenizers each start one thread per core and spin while they
wait for work: with N worker processes on N cores that is N x N busy threads. Measured on 2 cores it doubled the
CPU time of a served request (95 -> 49 ms with one thread per worker). The variables must be set before a
worker process starts (the libraries read them once, at load).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

NATIVE_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may use: its affinity mask where the OS has one (``taskset``, a container's CPU
    set), else every core. Every default that counts cores (grid workers, serve workers, decode windows,
    extraction processes) reads this one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def worker_thread_env(threads: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables that give each worker process ``threads`` native threads (set before it starts).

    A variable the user set already is kept (theirs wins); the tokenizers' own pool is turned off.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    current = os.environ if environ is None else environ
    wanted = {name: str(threads) for name in NATIVE_THREAD_VARS}
    wanted["TOKENIZERS_PARALLELISM"] = "false"
    return {name: value for name, value in wanted.items() if name not in current}


@contextlib.contextmanager
def child_thread_env(threads: int) -> Iterator[dict[str, str]]:
    """Set :func:`worker_thread_env` in this process while child processes are started, then restore it."""
    added = worker_thread_env(threads)
    os.environ.update(added)
    try:
        yield added
    finally:
        for name in added:
            os.environ.pop(name, None)
