"""The seeds x folds grid in worker processes: same results as one process, dependencies respected, resumable."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from emofuse.train.parallel import default_workers, grid_jobs
from emofuse.train.runner import run_experiment

SYSTEMS = ["pepino2020/audio", "pepino2020/text_bert", "pepino2020/ef_pt"]


class _Stop(Exception):
    pass


def _run(tiny: Any, out: Path, **kwargs: Any) -> Any:
    return run_experiment(
        [tiny.recipe(n) for n in SYSTEMS],
        tiny.table,
        tiny.folds,
        tiny.store,
        out,
        seeds=2,
        encoder_ids=tiny.encoder_ids,
        extract_missing=False,
        progress=False,
        **kwargs,
    )


def _predictions(out: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in sorted(out.glob("*/seed*/fold*/predictions.csv"))]
    return pd.concat(frames).sort_values(["system", "seed", "fold", "utterance_id"], ignore_index=True)


def test_grid_jobs_wait_for_their_pretraining_sources(tiny_corpus: Any) -> None:
    from types import SimpleNamespace

    recipes = [tiny_corpus.recipe(n) for n in SYSTEMS]
    specs = [
        SimpleNamespace(recipe=r, seed=s, fold_index=i, fold=f)
        for r in recipes
        for s in (0, 1)
        for i, f in enumerate(tiny_corpus.folds)
    ]
    jobs = grid_jobs(specs)
    by_system = {j.system: j for j in jobs if j.seed == 1 and j.fold_index == 1}
    assert by_system["audio"].needs == () and by_system["text_bert"].needs == ()
    assert set(by_system["ef_pt"].needs) == {("audio", 1, 1), ("text_bert", 1, 1)}
    assert default_workers(1) == 1 and default_workers(100, threads=1) >= 1


def test_two_workers_give_the_same_runs_as_one_process_and_resume(
    tiny_corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emofuse.train.epochs import GridProgress

    epochs: list[tuple[tuple[str, int, int], int, str]] = []
    show_epoch = GridProgress.epoch

    def record_epoch(self: GridProgress, key: Any, epoch: int, log_name: str = "train") -> None:
        epochs.append((tuple(key), epoch, log_name))
        show_epoch(self, key, epoch, log_name)

    monkeypatch.setattr(GridProgress, "epoch", record_epoch)  # the display in this (the parent) process
    serial = _run(tiny_corpus, tmp_path / "serial", torch_threads=1)
    budget = tiny_corpus.recipe(SYSTEMS[0]).training.max_epochs
    # in one process, every run reported each of its epochs as it finished it
    assert sorted(e for e in epochs if e[2] == "train") == sorted(
        ((s, seed, f), k, "train") for s in ("audio", "text_bert", "ef_pt") for seed in (0, 1) for f in (0, 1)
        for k in range(1, budget + 1)
    )  # fmt: skip
    epochs.clear()
    finished: list[dict[str, Any]] = []
    order: list[tuple[str, int, str]] = []

    def stop_after_four(row: dict[str, Any]) -> None:
        finished.append(row)
        order.append((row["system"], row["seed"], row["fold"]))
        if len(finished) == 4:
            raise _Stop

    out = tmp_path / "parallel"
    with pytest.raises(_Stop):
        _run(tiny_corpus, out, workers=2, on_run_done=stop_after_four)
    n_done = len(list(out.glob("*/seed*/fold*/done.json")))
    assert 4 <= n_done < 12  # what finished is kept; the rest was not run
    result = _run(
        tiny_corpus,
        out,
        workers=2,
        on_run_done=lambda row: order.append((row["system"], row["seed"], row["fold"])),
    )
    assert (result.runs["status"] == "skipped").sum() == n_done
    # the workers sent the parent every epoch of the runs they trained
    trained = {
        (r.system, r.seed, [f.name for f in tiny_corpus.folds].index(r.fold))
        for r in result.runs.itertuples()
        if r.status == "trained"
    }
    assert {e[0] for e in epochs if e[2] == "train"} >= trained and trained
    assert all(len([e for e in epochs if e[0] == k and e[2] == "train"]) >= budget for k in trained)
    assert len(result.runs) == 12 and set(result.runs["status"]) <= {"trained", "skipped"}
    # every fusion run started from its own seed's and fold's single-modality runs, which finished earlier
    for row in result.runs[result.runs["system"] == "ef_pt"].itertuples():
        info = json.loads((Path(row.run_dir) / "metrics.json").read_text())["pretrain"]
        assert {b: v["from_run"] for b, v in info.items()} == {
            "audio": str(Path(row.run_dir).parents[2] / "audio" / f"seed{row.seed}" / Path(row.run_dir).name),
            "text": str(
                Path(row.run_dir).parents[2] / "text_bert" / f"seed{row.seed}" / Path(row.run_dir).name
            ),
        }
    # the same seeds give the same predictions whichever process trained them
    pd.testing.assert_frame_equal(
        _predictions(out), _predictions(tmp_path / "serial"), check_exact=False, atol=1e-6
    )
    assert result.report is not None and set(result.report.summary) == set(serial.report.summary)


# ---- GPU placement: one run per GPU, and no grid of runs that spread over devices themselves ----------------
def _recipes(**trainer: Any) -> list[Any]:
    from types import SimpleNamespace

    from emofuse.recipes.schema import TrainerConfig

    return [
        SimpleNamespace(name="sys_a", trainer=TrainerConfig()),
        SimpleNamespace(name="sys_b", trainer=TrainerConfig(**trainer)),
    ]


def test_each_worker_gets_one_gpu_round_robin_over_the_visible_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import queue

    from emofuse.errors import ConfigError
    from emofuse.train.parallel import device_slots, pin_device, visible_gpus

    assert device_slots(3, ["0", "1", "2"]) == ["0", "1", "2"]
    assert device_slots(5, ["4", "6"]) == ["4", "6", "4", "6", "4"]
    with pytest.raises(ConfigError, match="trainer.accelerator"):
        device_slots(2, [])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]  # the parent's own selection is what gets split
    # a worker pins itself to the device it takes from the queue; without a queue (CPU) nothing changes
    slots: queue.Queue[str] = queue.Queue()
    slots.put("5")
    pin_device({"device_queue": slots})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5" and slots.empty()
    pin_device({})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"


def test_default_workers_are_one_per_gpu_and_one_for_ddp_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from emofuse.train.parallel import grid_workers, uses_gpu

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert not uses_gpu(_recipes()) and uses_gpu(_recipes(accelerator="gpu"))
    assert grid_workers(_recipes(accelerator="gpu")) == 3
    assert grid_workers(_recipes(accelerator="cuda", devices=2, strategy="ddp")) == 1
    assert grid_workers(_recipes(), threads=1) == default_workers(10**6, 1)


@pytest.mark.parametrize("trainer", [{"devices": 2}, {"devices": -1}, {"strategy": "ddp"}, {"num_nodes": 2}])
def test_a_parallel_grid_of_multi_device_runs_is_refused_naming_both_settings(
    trainer: dict[str, Any],
) -> None:
    from emofuse.errors import ConfigError
    from emofuse.train.parallel import check_grid_placement

    recipes = _recipes(accelerator="gpu", **trainer)
    check_grid_placement(recipes, workers=1)  # one run at a time may use DDP
    check_grid_placement(_recipes(accelerator="gpu"), workers=4)  # one run per GPU is fine
    with pytest.raises(ConfigError) as info:
        check_grid_placement(recipes, workers=4)
    message = str(info.value)
    assert "--workers 4" in message and "trainer.devices=" in message and "sys_b" in message
    assert "\n" not in message


def test_run_experiment_refuses_a_ddp_grid_before_training(tiny_corpus: Any, tmp_path: Path) -> None:
    from emofuse.errors import ConfigError
    from emofuse.recipes.schema import TrainerConfig

    recipe = tiny_corpus.recipe("pepino2020/audio")
    recipe = recipe.model_copy(update={"trainer": TrainerConfig(devices=2, strategy="ddp")})
    with pytest.raises(ConfigError, match="trainer.devices=2"):
        run_experiment(
            [recipe],
            tiny_corpus.table,
            tiny_corpus.folds,
            tiny_corpus.store,
            tmp_path / "out",
            seeds=1,
            encoder_ids=tiny_corpus.encoder_ids,
            extract_missing=False,
            progress=False,
            workers=2,
        )
    assert not (tmp_path / "out").exists()


def test_worker_server_starts_before_the_grid_and_the_grid_reuses_it() -> None:
    """The forkserver is started early (its imports overlap feature extraction) and run_grid forks from it."""
    import multiprocessing

    from emofuse.train.parallel import start_worker_server

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no forkserver on this platform: workers are spawned")
    from multiprocessing import forkserver

    start_worker_server()
    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None
    os.kill(pid, 0)  # the server process exists (raises if not)
    start_worker_server()  # a second call reuses the running server
    assert forkserver._forkserver._forkserver_pid == pid


def test_worker_server_starts_with_one_native_thread_per_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables are set while the server starts (so every worker inherits them), then removed here."""
    from multiprocessing import forkserver

    from emofuse.threads import NATIVE_THREAD_VARS
    from emofuse.train import parallel

    for name in NATIVE_THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own value wins
    seen: dict[str, str | None] = {}
    monkeypatch.setattr(
        forkserver, "ensure_running", lambda: seen.update({n: os.environ.get(n) for n in NATIVE_THREAD_VARS})
    )
    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context("forkserver"))
    parallel.start_worker_server(threads=1)
    assert seen == {
        "OMP_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
    }
    assert os.environ.get("OPENBLAS_NUM_THREADS") is None and os.environ["OMP_NUM_THREADS"] == "3"


def test_a_short_grid_runs_at_once_and_a_long_one_one_run_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 runs on 2 cores train together (1.5 rounds of work, no idle core at the tail); 5 runs use 2 workers."""
    from emofuse.train import parallel

    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    assert [parallel.default_workers(n) for n in (1, 2, 3, 4, 5, 48)] == [1, 2, 3, 4, 2, 2]
    # one slot of 2 threads: 2 runs may share it, a third waits
    assert [parallel.default_workers(n, threads=2) for n in (2, 3)] == [2, 1]
    assert parallel.default_workers(5, gpus=2) == 2
    assert parallel.grid_workers(_recipes(), n_jobs=3) == 3


def test_prefetch_imports_a_module_in_the_background_and_survives_a_missing_one() -> None:
    import sys

    from emofuse.train.parallel import prefetch_modules

    prefetch_modules("emofuse_no_such_module", "emofuse.evaluate.report").join(timeout=60)
    assert "emofuse.evaluate.report" in sys.modules


_MARKER_MODULE = """
import atexit, pathlib
atexit.register(lambda: pathlib.Path({marker!r}).write_text("torn down"))
"""

_SERVER_SCRIPT = """
import multiprocessing
from multiprocessing import forkserver
ctx = multiprocessing.get_context("forkserver")
ctx.set_forkserver_preload({preload!r})
forkserver.ensure_running()
print(forkserver._forkserver._forkserver_pid, flush=True)
"""


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(), reason="no forkserver"
)
@pytest.mark.parametrize("quick_exit", [True, False])
def test_worker_server_leaves_without_teardown(tmp_path, quick_exit):
    """With emofuse.train.server_exit preloaded, the worker server leaves with os._exit once its parent is gone:
    an exit handler registered before it (as torch's and Lightning's teardown is) never runs. Without it, it does
    (the control that shows this test can fail)."""
    import os
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    marker = tmp_path / "marker.txt"
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "emofuse_test_exit_marker.py").write_text(_MARKER_MODULE.format(marker=str(marker)))
    preload = ["emofuse_test_exit_marker", *(["emofuse.train.server_exit"] if quick_exit else [])]
    script = _SERVER_SCRIPT.format(preload=preload)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helpers), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    server = int(done.stdout.split()[0])
    deadline = time.monotonic() + 60
    while psutil.pid_exists(server) and psutil.Process(server).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the worker server outlived its parent by a minute"
        time.sleep(0.05)
    assert marker.exists() is not quick_exit
