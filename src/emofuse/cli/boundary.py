"""The CLI's one error boundary: an error that ends a command becomes one line naming the file or key and saying
what to do (``--debug`` adds the traceback), with an exit code.

Used by :func:`emofuse.cli.main.main` around every command, and by sub-apps that catch errors themselves.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from typing import NoReturn

from emofuse.errors import EmofuseError, short_repr

_state = {"debug": False}


def set_debug(debug: bool) -> None:
    """``--debug``: print the traceback before the error line."""
    _state["debug"] = debug


def safe_streams() -> None:
    """Never fail while printing: a file name that is not valid UTF-8 is shown with backslash escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            with contextlib.suppress(ValueError, OSError):  # a stream that cannot change its error handler
                reconfigure(errors="backslashreplace")


_OS_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space (or write elsewhere) and run the same command again",
    errno.EDQUOT: "the disk quota is exhausted: free some space and run the same command again",
    errno.EROFS: "the file system is read-only: choose a writable output folder",
    errno.EACCES: "permission denied: choose a folder you may write to (or a file you may read)",
    errno.EPERM: "operation not permitted: choose a folder you may write to",
    errno.ENOENT: "no such file or folder: check the path (create the folder first if it is an output)",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "the path is a folder where a file was expected: give a file name",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter one",
    errno.EEXIST: "the path already exists as something else: choose another name",
}


def _printable(text: str) -> str:
    """``text`` safe for any terminal encoding (a file name that is not valid UTF-8 arrives with surrogates)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_line(exc: BaseException) -> str:
    """The one line the CLI prints for an error that ends a command (without the ``error:`` prefix)."""
    if isinstance(exc, EmofuseError):
        return _printable(str(exc))
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else "a file"
        if exc.filename2 is not None:
            where = f"{exc.filename} -> {exc.filename2}"
        advice = _OS_ADVICE.get(
            exc.errno or -1, "check the path and that the disk has room, then run it again"
        )
        reason = exc.strerror or type(exc).__name__
        return _printable(
            f"{where}: {reason}; {advice}. Finished work is kept: run the same command again to resume."
        )
    if isinstance(exc, UnicodeError):
        return _printable(
            f"a file or name is not valid UTF-8 text ({short_repr(exc)}); save text files as UTF-8 and "
            "rename files whose names are not UTF-8"
        )
    return _printable(
        f"unexpected {type(exc).__name__}: {short_repr(str(exc))}. This is a bug in emofuse or an input it "
        "does not recognise; run the command again with --debug for the traceback and report it"
    )


def fail(exc: BaseException, code: int) -> NoReturn:
    """Print ``exc`` as one ``error:`` line on stderr (after its traceback with ``--debug``) and exit ``code``."""
    from rich.console import Console
    from rich.markup import escape

    if _state["debug"]:
        import traceback

        traceback.print_exception(exc)
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(error_line(exc))}")
    raise SystemExit(code) from None
