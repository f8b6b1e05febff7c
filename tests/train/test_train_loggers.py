"""Lightning's CSV (default) and TensorBoard loggers write per-epoch losses and dev metrics for every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.errors import ConfigError
from emofuse.recipes import load_recipe
from emofuse.train.runner import run_experiment


def _run(tiny: Any, out: Path, *extra: str, systems: tuple[str, ...] = ("pepino2020/audio",)) -> Any:
    recipes = [tiny.recipe(name, "training.max_epochs=3", *extra) for name in systems]
    return run_experiment(
        recipes, tiny.table, tiny.folds, tiny.store, out, seeds=2, encoder_ids=tiny.encoder_ids,
        extract_missing=False, progress=False,
    )  # fmt: skip


def test_csv_log_by_default_in_every_run_directory(tiny_corpus: Any, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _run(tiny_corpus, out, "training.early_stopping={monitor: uar, patience: 50}")
    runs = sorted(out.glob("audio/seed*/fold*"))
    assert len(runs) == 2 * len(tiny_corpus.folds)
    for run in runs:
        log = pd.read_csv(run / "logs" / "train" / "metrics.csv")
        per_epoch = log.groupby("epoch").max(numeric_only=True)
        assert list(per_epoch.index) == [0, 1, 2]
        assert per_epoch["train_loss"].notna().all() and (per_epoch["train_loss"] > 0).all()
        assert per_epoch["dev_uar"].between(0, 1).all() and per_epoch["dev_loss"].notna().all()
        assert not (run / "logs" / "train" / "events.out.tfevents").exists()


def test_tensorboard_and_no_logger(tiny_corpus: Any, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    _run(tiny_corpus, out, "training.loggers=[tensorboard]")
    for run in out.glob("audio/seed*/fold*"):
        events = EventAccumulator(str(run / "logs" / "train")).Reload()
        assert [e.step for e in events.Scalars("train_loss")] and len(events.Scalars("train_loss")) == 3
        assert not (run / "logs" / "train" / "metrics.csv").exists()

    quiet = tmp_path / "none"
    _run(tiny_corpus, quiet, "training.loggers=[]")
    assert list(quiet.glob("audio/seed0/fold*")) and not list(quiet.glob("audio/seed*/fold*/logs/*"))


def test_loggers_do_not_change_the_run_hash_and_bad_names_fail(tiny_corpus: Any, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _run(tiny_corpus, out)
    again = _run(tiny_corpus, out, "training.loggers=[]")
    assert set(again.runs["status"]) == {"skipped"}  # switching logs off does not retrain finished runs
    with pytest.raises(ConfigError, match="loggers"):
        load_recipe("pepino2020/audio", ["training.loggers=[wandb]"])
    result = CliRunner().invoke(
        app,
        ["run", "pepino2020/audio", "--corpus", "c.jsonl", "--out", str(tmp_path / "o"), "--logger", "wandb"],
    )
    assert isinstance(result.exception, ConfigError)  # main() turns it into one line and exit code 2
    assert "--logger 'wandb': use csv, tensorboard or none" in str(result.exception)
