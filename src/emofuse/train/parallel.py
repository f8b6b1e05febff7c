"""The seeds x folds grid in parallel worker processes, with one progress display.

Small models train fastest on one CPU thread each, so a 2-core machine trains two runs at once instead of one
run whose threads fight each other. :func:`run_grid` schedules the runner's jobs over ``workers`` processes:

* each worker is a fresh process (``forkserver`` where available, else ``spawn``; never a plain ``fork`` of a
  parent whose OpenMP pools may already be running), given the table, folds, store and branch sources once,
  with ``threads`` torch threads and torch's deterministic algorithms, so a run's result depends on its seed
  and thread count, not on which worker ran it or in what order;
* a job that starts from other runs (pre-trained branches: ``training.pretrain.from_systems``) is only
  submitted once those runs of the same seed and fold have finished;
* finished runs are written by the worker as in the sequential runner (``done.json`` last, atomically), so a
  killed grid resumes where it stopped;
* on GPUs (a recipe's ``trainer.accelerator`` is ``gpu``/``cuda``), one run per GPU: each worker is pinned to
  one device by ``CUDA_VISIBLE_DEVICES`` (:func:`device_slots`), and by default there are as many workers as
  visible GPUs. A run that spreads over devices itself (``trainer.devices`` > 1, ``num_nodes`` > 1, a DDP
  strategy) cannot also run inside a parallel grid: :func:`check_grid_placement` refuses the nested case.

Progress (:class:`emofuse.train.epochs.GridProgress`): runs and epochs with ETA in a terminal, else plain lines
at most every ``plain_every_s`` seconds (and always the last); workers send every finished epoch to the parent
over a queue.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import queue as queue_module
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from emofuse.errors import ConfigError, EmofuseError
from emofuse.threads import available_cores, child_thread_env
from emofuse.train.epochs import GridProgress, grid_budgets

JobKey = tuple[str, int, int]  # (system, seed, fold_index)


@dataclass(frozen=True)
class GridJob:
    """One run of the grid and the runs it must wait for (same seed and fold, pre-training sources)."""

    system: str
    seed: int
    fold_index: int
    fold_name: str
    needs: tuple[JobKey, ...] = ()

    @property
    def key(self) -> JobKey:
        return (self.system, self.seed, self.fold_index)


def grid_jobs(specs: Sequence[Any]) -> list[GridJob]:
    """:class:`GridJob` s for the runner's :class:`~emofuse.train.steps.RunSpec` s, with their dependencies."""
    out = []
    for spec in specs:
        recipe = spec.recipe
        pre = recipe.training.pretrain
        sources = (
            pre.from_systems.values() if pre is not None and recipe.training.strategy != "cold_start" else ()
        )
        needs = tuple((str(s), spec.seed, spec.fold_index) for s in sources)
        out.append(GridJob(recipe.name, spec.seed, spec.fold_index, spec.fold.name, needs))
    return out


def default_workers(n_jobs: int, threads: int = 1, gpus: int = 0) -> int:
    """Worker processes for ``n_jobs`` runs: one per GPU when ``gpus`` > 0, else as many as the cores hold at
    ``threads`` torch threads each; a short grid (at most two runs per such slot) runs all at once, so that no
    core idles while the last runs of an uneven round train (3 runs on 2 cores: 1.5 rounds, not 2)."""
    if gpus > 0:
        return max(1, min(n_jobs, gpus))
    slots = max(1, available_cores() // max(1, threads))
    return max(1, n_jobs if n_jobs <= 2 * slots else slots)


GPU_ACCELERATORS = ("gpu", "cuda")
_MULTI_DEVICE_STRATEGIES = ("ddp", "fsdp", "deepspeed")


def uses_gpu(recipes: Sequence[Any]) -> bool:
    """Whether any recipe trains on GPUs (``trainer.accelerator`` ``gpu`` or ``cuda``)."""
    return any(str(r.trainer.accelerator).lower() in GPU_ACCELERATORS for r in recipes)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (indices when it is unset)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def device_slots(workers: int, devices: Sequence[str]) -> list[str]:
    """The device of each of ``workers`` workers: round-robin over ``devices`` (one run per GPU when
    ``workers == len(devices)``). Raises ConfigError when there is no device."""
    if not devices:
        raise ConfigError(
            "trainer.accelerator asks for a GPU but none is visible (CUDA_VISIBLE_DEVICES / torch.cuda); "
            "set trainer.accelerator=cpu or run on a GPU machine"
        )
    return [str(devices[i % len(devices)]) for i in range(max(1, workers))]


def _spreads_over_devices(trainer: Any) -> bool:
    devices = str(trainer.devices).strip()
    strategy = str(trainer.strategy).lower()
    return (
        devices not in ("1", "auto")
        or int(trainer.num_nodes) > 1
        or any(strategy.startswith(s) for s in _MULTI_DEVICE_STRATEGIES)
    )


def grid_workers(recipes: Sequence[Any], threads: int = 1, n_jobs: int = 10**6) -> int:
    """The default ``--workers`` for a grid of ``n_jobs`` runs of ``recipes``: 1 when a run spreads over devices
    itself (DDP), one per visible GPU when they train on GPUs, else :func:`default_workers`."""
    if any(_spreads_over_devices(r.trainer) for r in recipes):
        return 1
    return default_workers(n_jobs, threads, gpus=len(visible_gpus()) if uses_gpu(recipes) else 0)


def check_grid_placement(recipes: Sequence[Any], workers: int) -> None:
    """Refuse a parallel grid (``workers`` > 1) of runs that each spread over devices themselves."""
    if workers <= 1:
        return
    for recipe in recipes:
        t = recipe.trainer
        if _spreads_over_devices(t):
            raise ConfigError(
                f"--workers {workers} runs the grid in parallel, one run per worker, but {recipe.name} sets "
                f"trainer.devices={t.devices}, trainer.strategy={t.strategy}, trainer.num_nodes={t.num_nodes} "
                "(one run over several devices): use --workers 1 for that, or trainer.devices=1 with "
                "strategy auto for one run per GPU"
            )


# --------------------------------------------------------------------------------------------------------
# worker side: state set once per process by the initializer
_STATE: dict[str, Any] = {}


def pin_device(payload: Mapping[str, Any]) -> None:
    """In a worker: take one device from the payload's ``device_queue`` (if any) and make it the only one
    visible, before torch initialises CUDA in this process."""
    slots = payload.get("device_queue")
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())


def _init_worker(payload: Mapping[str, Any]) -> None:
    pin_device(payload)
    import torch

    from emofuse.train.determinism import make_deterministic

    make_deterministic(int(payload["threads"]))
    with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
        torch.set_num_interop_threads(1)
    epochs = payload.get("epoch_queue")
    if epochs is not None:  # every finished epoch goes to the parent's progress display
        from emofuse.train.epochs import set_epoch_listener

        set_epoch_listener(lambda epoch, phase: epochs.put((_STATE.get("job"), epoch, phase)))
    _STATE.clear()
    _STATE.update(payload)


def _run_job(job: GridJob) -> dict[str, Any]:
    from emofuse.encoders import FeatureStore
    from emofuse.train.data import FeatureCache
    from emofuse.train.steps import run_one

    spec = _STATE["specs"][job.key]
    _STATE["job"] = job.key
    if "cache" not in _STATE:  # one cache per worker: each store entry is read once per process
        _STATE["cache"] = FeatureCache(FeatureStore(spec.store_root))
    return run_one(spec, _STATE["cache"])


#: what the worker server imports once, so that no worker imports it again: torch, Lightning, the run code,
#: the metrics every run ends with (scikit-learn, SciPy), and the server's own quick exit
SERVER_PRELOAD = (
    "torch",
    "lightning",
    "emofuse.train.steps",
    "emofuse.train.fit",
    "emofuse.evaluate.metrics",
    "emofuse.train.server_exit",
)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(SERVER_PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def start_worker_server(threads: int = 1) -> None:
    """Start the forkserver now, so that it imports torch and Lightning while this process extracts features.

    Returns at once (the server preloads in the background); :func:`run_grid` later forks its workers from it.
    The server, and so every worker, starts with ``threads`` native threads per library
    (:func:`emofuse.threads.worker_thread_env`; a variable the user set wins). A server already running is kept
    as it is. Where there is no forkserver (Windows), ``spawn`` workers inherit this process's variables.
    """
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with child_thread_env(threads):
            forkserver.ensure_running()


def start_server_for(recipes: Sequence[Any], workers: int, threads: int | None = None) -> None:
    """Start the worker server (:func:`start_worker_server`) when a grid of ``recipes`` will train in parallel:
    ``workers`` > 1, or 0 (as many as the cores call for) where :func:`grid_workers` gives more than one.

    Callers start it as early as they know they will train, so that its imports overlap their own work.
    """
    if workers == 1:
        return
    if (workers or grid_workers(recipes, threads or 1)) > 1:
        start_worker_server(threads or 1)


def prefetch_modules(*names: str) -> threading.Thread:
    """Import ``names`` in a background thread of this process (which only waits while the grid trains: the
    imports then cost no time after it); returns the started daemon thread. A failed import is left for the
    later real import to report."""

    def load() -> None:
        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="emofuse-prefetch", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------------------------------------
# parent side
def run_grid(
    specs: Sequence[Any],
    *,
    workers: int,
    threads: int = 1,
    progress: bool | None = None,
    on_run_done: Callable[[dict[str, Any]], None] | None = None,
    plain_every_s: float = 10.0,
) -> list[dict[str, Any]]:
    """Run the runner's :class:`~emofuse.train.steps.RunSpec` s in ``workers`` processes.

    Returns one runner row per spec, in the order of ``specs``. A spec whose system starts from other systems'
    runs (``training.pretrain.from_systems``) is submitted once those runs of its seed and fold have finished.

    Args:
        specs: the grid; every worker gets all of them once (pickled together, so the shared table once).
        workers: processes (>= 1); on GPUs each is pinned to one device (:func:`device_slots`).
            threads: torch threads per worker. Workers start as fresh processes, which
            re-import the caller's main module: a script must call this under ``if __name__ == "__main__":``.
        progress: True/None: a rich bar when stderr is a terminal, else plain periodic lines; False: quiet.
        on_run_done: called in this process with each finished row, in completion order.
    """
    jobs = grid_jobs(specs)
    recipes = [spec.recipe for spec in specs]
    check_grid_placement(recipes, workers)
    payload: dict[str, Any] = {"specs": {job.key: spec for job, spec in zip(jobs, specs, strict=True)}}
    context = _context()
    if uses_gpu(recipes):
        payload["device_queue"] = queue = context.Queue()
        for device in device_slots(workers, visible_gpus()):
            queue.put(device)
    payload["epoch_queue"] = epochs = context.Queue()
    keys = {j.key for j in jobs}
    waiting = {j.key: j for j in jobs}
    done: dict[JobKey, dict[str, Any]] = {}
    running: dict[Future[dict[str, Any]], GridJob] = {}
    start_worker_server(threads)  # no-op when the runner started it already
    executor = ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=context,
        initializer=_init_worker,
        initargs=({**payload, "threads": threads},),
    )
    failed = True
    try:
        with GridProgress(grid_budgets(specs), progress, plain_every_s) as bar:
            while waiting or running:
                for key, job in list(waiting.items()):
                    if all(n in done or n not in keys for n in job.needs):
                        running[executor.submit(_run_job, job)] = job
                        del waiting[key]
                if not running:  # pragma: no cover - order_systems rules out cycles
                    raise EmofuseError(f"the grid cannot proceed: {sorted(waiting)} wait on each other")
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain_epochs(epochs, bar)
                for future in finished:
                    job = running.pop(future)
                    try:
                        row = future.result()
                    except BrokenProcessPool as exc:
                        raise EmofuseError(
                            f"a training worker died during {job.system} seed {job.seed} {job.fold_name} "
                            "(out of memory, or a script calling run_experiment(workers > 1) without an "
                            "`if __name__ == '__main__':` guard); rerun to resume, or pass --workers 1"
                        ) from exc
                    done[job.key] = row
                    bar.finished(job.key, row)
                    if on_run_done is not None:
                        on_run_done(row)
        failed = False
    finally:
        # on an error or Ctrl-C, runs in flight are abandoned (no done.json: redone on the next call)
        processes = list((getattr(executor, "_processes", None) or {}).values())
        if failed:
            for process in processes:
                with contextlib.suppress(Exception):
                    process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
    return [done[j.key] for j in jobs]


def _drain_epochs(epochs: Any, bar: GridProgress) -> None:
    """Show the epochs the workers reported since the last look."""
    while True:
        try:
            key, epoch, phase = epochs.get_nowait()
        except queue_module.Empty:
            return
        if key is not None:
            bar.epoch(tuple(key), int(epoch), str(phase))


__all__ = [
    "GridJob",
    "available_cores",
    "check_grid_placement",
    "default_workers",
    "device_slots",
    "grid_jobs",
    "grid_workers",
    "prefetch_modules",
    "pin_device",
    "run_grid",
    "uses_gpu",
    "visible_gpus",
]
