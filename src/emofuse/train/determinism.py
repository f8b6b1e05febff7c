"""Runs reproducible for a seed on one machine: a fixed number of torch threads and torch's deterministic
algorithms in every run, in this process or in a grid's worker processes.

Float sums over several threads may be split differently when the thread count changes, and some kernels
(mostly on CUDA) have faster non-deterministic variants; a run therefore trains with an explicit thread count
(the one asked for, else the one torch uses when the run starts) and with
``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation without a deterministic variant warns
instead of stopping the run; Lightning's ``Trainer(deterministic="warn")`` keeps that setting). CUDA's cuBLAS
needs ``CUBLAS_WORKSPACE_CONFIG`` set before its first call to be deterministic; it is set unless the user set it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

#: cuBLAS's deterministic workspace setting (see the CUDA documentation on reproducibility).
CUBLAS_WORKSPACE = ":4096:8"


def make_deterministic(threads: int | None = None) -> int:
    """Fix torch's threads (``threads``, else its current count) and turn deterministic algorithms on in this
    process (a grid's worker). Returns the thread count."""
    import torch

    n = int(threads or torch.get_num_threads())
    torch.set_num_threads(n)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return n


@contextlib.contextmanager
def deterministic_runs(threads: int | None = None) -> Iterator[int]:
    """:func:`make_deterministic` for the runs of a block in this process; torch's thread count and
    deterministic-algorithm setting are restored afterwards. Yields the thread count."""
    import torch

    before_threads = torch.get_num_threads()
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        yield make_deterministic(threads)
    finally:
        torch.set_num_threads(before_threads)
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


__all__ = ["CUBLAS_WORKSPACE", "deterministic_runs", "make_deterministic"]
