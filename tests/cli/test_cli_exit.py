"""The ``emofuse`` command ends without Python's module teardown, yet loses nothing Python's exit would keep."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import atexit, sys, threading, time
atexit.register(lambda: print("atexit ran", flush=True))
def late():
    time.sleep(0.3)
    sys.stdout.write("thread done\\n")
threading.Thread(target=late).start()  # not a daemon: Python's exit waits for it
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(1)  # never shut down: Python's exit tells its idle thread to stop
pool.submit(lambda: None).result()
sys.stdout.write("buffered before\\n")  # a pipe: block-buffered, no flush
sys.argv = ["emofuse", *sys.argv[1:]]
from emofuse.cli.main import console_main
console_main()
"""


def _run(*argv: str, full: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EMOFUSE_FULL_EXIT"}
    if full:
        env["EMOFUSE_FULL_EXIT"] = "1"
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("full", [False, True])
def test_a_finished_command_keeps_threads_atexit_handlers_and_buffered_output(full: bool) -> None:
    done = _run("--help", full=full)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "buffered before" in lines and "thread done" in lines and "atexit ran" in lines
    assert "Usage" in done.stdout
    assert lines.index("thread done") < lines.index("atexit ran")  # threads joined first, as Python does


def test_a_failed_command_keeps_its_exit_code() -> None:
    done = _run("run", "no_such_paper/no_such_recipe", "--corpus", "missing.jsonl", "--out", "x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr
    assert "atexit ran" in done.stdout
