"""Entry point of the ``emofuse`` command: mounts each stage's sub-commands.

Sub-command modules are imported lazily-ish: each module keeps heavy imports (torch, transformers)
inside its command functions so that ``emofuse --help`` is fast.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from typing import NoReturn

import typer

from emofuse.cli import boundary
from emofuse.errors import EmofuseError

app = typer.Typer(
    name="emofuse",
    help="Speech emotion recognition from how it sounds and what is said.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name, help): a Typer sub-app (group) or a plain command function.
_GROUPS = [
    ("emofuse.cli.corpus", "app", "corpus", "Read corpora, make evaluation splits, check for leaks."),
    ("emofuse.cli.store", "app", "store", "Inspect and prune the feature store."),
    (
        "emofuse.cli.explain",
        "app",
        "explain",
        "Explain a model: embeddings, layer weights, token attributions.",
    ),
    (
        "emofuse.cli.model",
        "app",
        "model",
        "Make a packaged model travel: ONNX export of its network.",
    ),
]
_COMMANDS = [
    ("emofuse.cli.transcribe", "transcribe"),
    ("emofuse.cli.extract", "extract"),
    ("emofuse.cli.run", "run"),
    ("emofuse.cli.report", "report"),
    ("emofuse.cli.export", "export"),
    ("emofuse.cli.quickstart", "quickstart"),
    ("emofuse.cli.predict", "predict"),
    ("emofuse.cli.serve", "serve"),
    ("emofuse.cli.adapt_text", "adapt_text"),
]


def _mount() -> None:
    for module_name, attr, name, help_text in _GROUPS:
        app.add_typer(getattr(importlib.import_module(module_name), attr), name=name, help=help_text)
    for module_name, name in _COMMANDS:
        app.command(name=name.replace("_", "-"))(getattr(importlib.import_module(module_name), name))


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, print the full traceback instead of one line (for bug reports)."
    ),
) -> None:
    boundary.set_debug(debug)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if os.environ.get("EMOFUSE_OFFLINE") == "1":  # never reach a model hub
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


_mount()


def main() -> None:
    """Run the CLI: every error ends in one clear line (``--debug`` adds the traceback) and an exit code.

    Exit codes: 2 for bad input (an :class:`EmofuseError`, an OS error on a path: missing, read-only, full disk,
    a text file or file name that is not UTF-8) and usage errors; 130 when interrupted; 1 for anything else
    (a bug: the line says to rerun with ``--debug``). Files are written atomically, so nothing half-written
    survives any of these.
    """
    boundary.set_debug(False)
    boundary.safe_streams()
    try:
        code = app(standalone_mode=False)
    except (EmofuseError, OSError, UnicodeError) as exc:
        boundary.fail(exc, 2)
    except typer.exceptions.TyperException as exc:  # usage errors, bad option values
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        from rich.console import Console

        Console(stderr=True).print(
            "[yellow]interrupted[/]: finished work is kept; run the same command to resume"
        )
        raise SystemExit(130) from None
    except SystemExit:
        raise
    except Exception as exc:  # the boundary: never a bare traceback for a user (rerun with --debug for one)
        boundary.fail(exc, 1)
    # with standalone_mode=False click returns (not raises) the code of a `typer.Exit(code)`
    if isinstance(code, int) and code:
        raise SystemExit(code)


def console_main() -> NoReturn:
    """The ``emofuse`` command: :func:`main`, then :func:`end_process` once the command has finished (``main``
    itself returns, for callers in the same process)."""
    main()
    end_process(0)


#: set to 1 for Python's full interpreter teardown at the end of a command (see :func:`end_process`)
FULL_EXIT_ENV = "EMOFUSE_FULL_EXIT"


def end_process(code: int) -> NoReturn:
    """End a finished command's process as Python would, minus the module-by-module teardown.

    Python's normal exit stops idle thread pools and joins the non-daemon threads, runs the ``atexit`` handlers (multiprocessing's helpers,
    temporary directories, logging), then frees every module and object one by one: 0.5-0.8 s on two cores once
    torch is loaded, for a process whose results are already on disk. This does the first two, flushes the
    standard streams and leaves with ``os._exit(code)``; ``EMOFUSE_FULL_EXIT=1`` keeps the full teardown.
    """
    if os.environ.get(FULL_EXIT_ENV) == "1":
        raise SystemExit(code)
    import atexit
    import threading

    # what the interpreter's exit does first: tell thread pools to stop, then join every non-daemon thread
    python_shutdown = getattr(threading, "_shutdown", None)
    if callable(python_shutdown) and threading.current_thread() is threading.main_thread():
        python_shutdown()
    else:  # pragma: no cover - an interpreter without it
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
