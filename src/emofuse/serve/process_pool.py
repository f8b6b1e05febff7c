"""Inference worker processes for ``emofuse serve --workers N``: N processes, each with its own model, one queue.

The HTTP front (one process: uvicorn, uploads, API key, per-client limits, admission) runs N x T inference threads
(:class:`~emofuse.serve.workqueue.WorkQueue`, T = ``--threads``). Each admitted request's thread takes a free
*slot* from one shared queue and hands the :class:`~emofuse.serve.jobs.Job` to it: a slot is one inference thread
of one worker process, reached over its own pipe. So whichever worker is free takes the next recording, however
the connections arrived, and admission, the upload gate and the per-client limits are counted once for the whole
service.

Each worker is a fresh ``spawn`` process (never a fork of the front's threads) started with one native thread
pool per core share (:func:`emofuse.threads.worker_thread_env`); it loads the model with
:func:`emofuse.serve.factory.load_predictor` (torch threads = cores // N), all workers in parallel. Start-up
waits until every worker is ready and fails with the worker's one-line reason (:class:`ModelLoadError`) if one
cannot load the package.

What crosses the process boundary is pickled by :mod:`multiprocessing`, between our own processes only: the
:class:`~emofuse.serve.jobs.Job` (the upload's bytes as received, decoded in the worker under the service's
limits) one way and an :class:`~emofuse.serve.jobs.Answer` (a status and a JSON-ready dict) back, both built by
emofuse code. What a user sent travels as a ``bytes`` value inside them and is only ever decoded as audio; nothing
a user sent is unpickled.

A worker that dies (segfault, OOM kill) does not take the service down: the requests it held are answered 503
with ``Retry-After`` and a message saying so, its slots leave the queue, and a new process replaces it (loading
the model again) while the other workers go on serving.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from emofuse.errors import EmofuseError, ModelLoadError
from emofuse.serve.factory import ServeSettings, load_predictor
from emofuse.serve.jobs import Answer, Job, SupportsPredict, answer_job
from emofuse.threads import child_thread_env

log = logging.getLogger(__name__)

LoadPredictor = Callable[[ServeSettings], SupportsPredict]
"""A module-level function (it is pickled by reference) that loads the predictor in a worker."""

_READY = "ready"
_FAILED = "failed"


def _worker_main(settings: ServeSettings, load: LoadPredictor, conns: list[Connection]) -> None:
    """A worker process: load the predictor, say so on every slot's pipe, then answer jobs on each in a thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the front stops us
    try:
        predictor = load(settings)
        description = predictor.describe()
    except Exception as exc:
        reason = str(exc) if isinstance(exc, EmofuseError) else f"{type(exc).__name__}: {exc}"
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send((_FAILED, reason))
        _exit(1)
    for conn in conns:
        conn.send((_READY, os.getpid(), description))
    threads = [
        threading.Thread(target=_serve_slot, args=(predictor, conn), daemon=True, name="emofuse-slot")
        for conn in conns[1:]
    ]
    for thread in threads:
        thread.start()
    _serve_slot(predictor, conns[0])
    for thread in threads:
        thread.join()
    _exit(0)


def _exit(code: int) -> None:
    """End the worker now: its pipes are closed, and the model's libraries may hold threads that would keep
    the interpreter from exiting for seconds (the front would wait for it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_slot(predictor: SupportsPredict, conn: Connection) -> None:
    """Answer the jobs arriving on one slot's pipe until the front closes it."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        answer = answer_job(predictor, job)
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return  # the front is gone
        except Exception:  # an answer that cannot be pickled: the front still gets one
            log.exception("could not send an answer to the front")
            conn.send(Answer.refusal(500, "internal error while predicting; the server log has the details"))


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conns: list[Connection]
    alive: bool = True
    pid: int | None = None


@dataclass(frozen=True, eq=False)
class _Slot:
    worker: _Worker
    conn: Connection


class ProcessPool:
    """``processes`` worker processes with ``settings.threads`` inference threads each, fed from one queue.

    Args:
        settings: what each worker loads (:func:`~emofuse.serve.factory.load_predictor`) and how many recordings
            it runs at once (``threads``).
        processes: worker processes (N).
        load: the function a worker loads its predictor with (module level; tests pass a stub's).
        start_timeout_s: how long a worker may take to load the model.
        slot_wait_s: how long a job waits for a free slot when every worker is gone (being replaced) before
            it is answered 503.
    """

    def __init__(
        self,
        settings: ServeSettings,
        processes: int,
        *,
        load: LoadPredictor = load_predictor,
        start_timeout_s: float = 600.0,
        slot_wait_s: float = 60.0,
    ) -> None:
        if processes < 1 or settings.threads < 1:
            raise ValueError(f"processes and threads must be >= 1, got {processes}, {settings.threads}")
        self.settings = settings
        self.processes = processes
        self.load = load
        self.start_timeout_s = start_timeout_s
        self.slot_wait_s = slot_wait_s
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._free: queue.Queue[_Slot] = queue.Queue()
        self._description: dict[str, Any] = {}
        self._closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        """Recordings one worker process runs at once."""
        return self.settings.threads

    def start(self) -> None:
        """Start every worker (they load the model in parallel) and wait until all are ready.

        Raises:
            ModelLoadError: a worker could not load the model (its reason), or took over ``start_timeout_s``.
        """
        workers = [self._spawn() for _ in range(self.processes)]
        try:
            for worker in workers:
                self._await_ready(worker)
        except BaseException:
            for worker in workers:
                self._stop(worker)
            raise
        with self._lock:
            self._workers = workers
        for worker in workers:
            self._offer(worker)
        threading.Thread(target=self._watch, daemon=True, name="emofuse-pool-watch").start()

    def run_job(self, job: Job) -> Answer:
        """Hand ``job`` to the next free worker slot and wait for its answer (blocking; from any thread)."""
        deadline = time.monotonic() + self.slot_wait_s
        while True:
            try:
                slot = self._free.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return Answer.refusal(
                    503, "no inference worker is ready (they are being restarted); retry shortly", 5
                )
            if not slot.worker.alive:
                continue  # its worker died: the slot leaves the queue
            try:
                slot.conn.send(job)
            except (OSError, ValueError):  # the worker is gone before the job reached it: try another
                slot.worker.alive = False
                continue
            try:
                answer: Answer = slot.conn.recv()
            except (EOFError, OSError):
                slot.worker.alive = False
                log.error("serve worker pid %s stopped while handling a recording", slot.worker.pid)
                return Answer.refusal(
                    503,
                    "the worker process handling this recording stopped (crashed or killed); a new one is "
                    "starting: retry shortly",
                    5,
                )
            self._free.put(slot)
            return answer

    def describe(self) -> dict[str, Any]:
        """The loaded model, as a worker's predictor describes it."""
        return self._description

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        with self._lock:
            return [w.pid for w in self._workers if w.alive and w.pid is not None]

    def health(self) -> dict[str, Any]:
        """Counters for ``/health``: workers alive, threads each, restarts after a worker died."""
        return {
            "processes": self.processes,
            "threads_per_process": self.threads,
            "alive": len(self.pids()),
            "restarts": self.restarts,
        }

    def shutdown(self) -> None:
        """Stop every worker (closing its pipes ends it; a stuck one is terminated)."""
        self._closed.set()
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            self._stop(worker)

    # ------------------------------------------------------------------------------------------ internals

    def _spawn(self) -> _Worker:
        pipes = [self._context.Pipe() for _ in range(self.threads)]
        process = self._context.Process(
            target=_worker_main,
            args=(self.settings, self.load, [child for _, child in pipes]),
            daemon=True,
            name="emofuse-serve-worker",
        )
        with self._lock, child_thread_env(self.settings.torch_threads or 1):
            process.start()
        for _, child in pipes:
            child.close()  # only the worker holds its ends: its death is an EOF here
        return _Worker(process=process, conns=[front for front, _ in pipes], pid=process.pid)

    def _await_ready(self, worker: _Worker) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        for conn in worker.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise ModelLoadError(
                    f"a serve worker did not load the model within {self.start_timeout_s:g} s; check the "
                    "server's log (is the machine out of memory?)"
                )
            try:
                message = conn.recv()
            except (EOFError, OSError):
                worker.process.join(timeout=5)
                raise ModelLoadError(
                    f"a serve worker process stopped while loading the model (exit code "
                    f"{worker.process.exitcode}); check the server's log (out of memory?)"
                ) from None
            if message[0] == _FAILED:
                raise ModelLoadError(message[1])
            self._description = message[2]

    def _offer(self, worker: _Worker) -> None:
        for conn in worker.conns:
            self._free.put(_Slot(worker, conn))

    def _watch(self) -> None:
        """Replace every worker that dies, until :meth:`shutdown`."""
        while not self._closed.is_set():
            with self._lock:
                by_sentinel = {w.process.sentinel: w for w in self._workers}
            for sentinel in wait(list(by_sentinel), timeout=0.5):
                if not self._closed.is_set():
                    self._replace(by_sentinel[sentinel])  # type: ignore[index]

    def _replace(self, dead: _Worker) -> None:
        dead.alive = False
        log.error(
            "serve worker pid %s stopped (exit code %s); starting a new one", dead.pid, dead.process.exitcode
        )
        with self._lock:
            self._workers = [w for w in self._workers if w is not dead]
        while not self._closed.is_set():
            new = self._spawn()
            try:
                self._await_ready(new)
            except ModelLoadError as exc:
                self._stop(new)
                log.error("a new serve worker could not load the model: %s; trying again in 10 s", exc)
                self._closed.wait(10)
                continue
            with self._lock:
                if not self._closed.is_set():
                    self._workers.append(new)
                    self.restarts += 1
            if self._closed.is_set():
                self._stop(new)
                return
            self._offer(new)
            log.warning("serve worker pid %s replaced by pid %s", dead.pid, new.pid)
            return

    @staticmethod
    def _stop(worker: _Worker) -> None:
        worker.alive = False
        for conn in worker.conns:
            conn.close()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(timeout=5)
