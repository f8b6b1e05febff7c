"""Imported by the grid's forkserver only (its preload list, :func:`emofuse.train.parallel._context`): the
server then leaves with ``os._exit`` when its parent is gone, instead of tearing torch and Lightning down
module by module (about 1 s on two cores). The server holds the parent's standard output and error, so
until it is gone a reader of the command's output (``| tee``, ``subprocess.run(capture_output=True)``) waits.

Importing it anywhere else does nothing: it acts only inside ``multiprocessing.forkserver.main``, whose
forked children leave with ``os._exit`` without running ``atexit`` handlers.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys


def _in_forkserver() -> bool:
    """Whether this import runs inside ``multiprocessing.forkserver.main`` (preloading its modules)."""
    from multiprocessing import forkserver

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


def _leave_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream: nothing to flush
            stream.flush()
    os._exit(0)


if _in_forkserver():
    atexit.register(_leave_now)
