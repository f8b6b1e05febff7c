"""pepino2020's epoch choice (``training.epoch_selection``): chosen on dev parts over seeds, then fixed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emofuse.corpus.protocols import Fold
from emofuse.errors import ConfigError
from emofuse.train.epoch_selection import SELECTION_DIR, choose_epoch, dev_curve, selection_seeds
from emofuse.train.rundir import RunDir
from emofuse.train.runner import run_experiment

SELECT = "training.epoch_selection={metric: av_auc, seeds: 2, statistic: median}"


def test_choose_epoch_takes_the_statistic_over_seeds_and_the_smallest_count_on_ties() -> None:
    per_seed = np.array([[0.5, 0.9, 0.6, 0.9], [0.5, 0.7, 0.8, 0.7], [0.6, 0.8, 0.7, 0.8]])
    curve, count = choose_epoch(per_seed, "median", "av_auc")
    assert curve.tolist() == [0.5, 0.8, 0.7, 0.8]
    assert count == 2  # epochs 2 and 4 tie: the shorter training wins
    curve, count = choose_epoch(per_seed, "mean", "av_auc")
    assert count == 2 and curve[1] == pytest.approx(0.8)
    assert choose_epoch(per_seed, "median", "loss")[1] == 1  # loss: the lowest


def test_selection_seeds_are_the_first_of_the_recipes_own(tiny_corpus: Any) -> None:
    five = "training.epoch_selection={seeds: 5}"
    assert selection_seeds(tiny_corpus.recipe("pepino2020/audio", five)) == [0, 1, 2, 3, 4]
    assert selection_seeds(tiny_corpus.recipe("pepino2020/audio", five, "training.seeds=[7, 3]")) == [
        7,
        3,
        0,
        1,
        2,
    ]
    assert selection_seeds(
        tiny_corpus.recipe("pepino2020/audio", five, "training.seeds=[9, 8, 7, 6, 5, 4]")
    ) == [
        9,
        8,
        7,
        6,
        5,
    ]


def test_dev_curve_needs_a_dev_value_after_every_epoch() -> None:
    history = [{"epoch": 0, "dev_av_auc": 0.6, "train_loss": 1.0}, {"epoch": 1, "dev_av_auc": 0.7}]
    assert dev_curve(history, "av_auc", 2, "m.json").tolist() == [0.6, 0.7]
    with pytest.raises(ConfigError, match="m.json.*dev_av_auc.*epoch"):
        dev_curve(history, "av_auc", 3, "m.json")


def test_schema_refuses_selection_with_early_stopping(tiny_corpus: Any) -> None:
    with pytest.raises(ConfigError, match="epoch_selection"):
        tiny_corpus.recipe("pepino2020/audio", SELECT, "training.early_stopping={monitor: uar}")
    with pytest.raises(ConfigError, match="epoch_selection.metric"):
        tiny_corpus.recipe("pepino2020/audio", "training.epoch_selection={metric: ccc}")


def _run(tiny: Any, recipes: list[Any], folds: list[Fold], out: Path, **kw: Any) -> Any:
    return run_experiment(
        recipes,
        tiny.table,
        folds,
        tiny.store,
        out,
        seeds=1,
        encoder_ids=tiny.encoder_ids,
        extract_missing=False,
        progress=False,
        **kw,
    )


def test_epochs_chosen_on_dev_folds_then_fixed_recorded_and_reported(
    tiny_corpus: Any, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    audio = tiny_corpus.recipe("pepino2020/audio", SELECT, "training.max_epochs=4")
    text = tiny_corpus.recipe("pepino2020/text_bert")  # no selection: its 2 epochs stay
    result = _run(tiny_corpus, [audio, text], tiny_corpus.folds, out)

    chosen = json.loads((out / SELECTION_DIR / "audio" / "chosen.json").read_text())
    # the choice is the median over the 2 seeds of the fold-averaged dev av_auc curve, from the selection runs
    per_seed = []
    for seed in (0, 1):
        curves = []
        for i in range(len(tiny_corpus.folds)):
            history = json.loads(RunDir.of(out / SELECTION_DIR, "audio", seed, i).metrics_path.read_text())[
                "history"
            ]
            curves.append([r["dev_av_auc"] for r in history if "dev_av_auc" in r])
            assert len(curves[-1]) == 4  # every selection run trained max_epochs and measured dev each epoch
        per_seed.append(np.mean(curves, axis=0))
    curve = np.median(per_seed, axis=0)
    assert chosen["curve"] == pytest.approx(curve.tolist())
    assert chosen["chosen_epochs"] == int(np.argmax(curve)) + 1 and chosen["seeds"] == [0, 1]
    assert not (out / SELECTION_DIR / "text_bert").exists()

    # final runs: the chosen count, fixed, recorded in the run's recipe; the other system untouched
    runs = result.runs.set_index("system")
    for run_dir in runs.loc["audio", "run_dir"]:
        metrics = json.loads(RunDir(run_dir).metrics_path.read_text())
        assert metrics["epochs_run"] == chosen["chosen_epochs"]
        recipe = json.loads(RunDir(run_dir).recipe_path.read_text())
        assert recipe["training"]["max_epochs"] == chosen["chosen_epochs"]
        assert recipe["training"]["epoch_selection"]["metric"] == "av_auc"
    for run_dir in runs.loc["text_bert", "run_dir"]:
        assert json.loads(RunDir(run_dir).metrics_path.read_text())["epochs_run"] == 2
    # the report lists the choice; selection runs are not systems of the report
    report = (out / "report.md").read_text()
    assert f"audio: {chosen['chosen_epochs']} of 4 epochs (median dev av_auc" in report
    assert set(json.loads((out / "report.json").read_text())["summary"]) == {"audio", "text_bert"}

    # a rerun trains nothing: selection and final runs are finished
    again = _run(tiny_corpus, [audio, text], tiny_corpus.folds, out)
    assert set(again.runs["status"]) == {"skipped"}


def test_selection_never_reads_the_test_part_and_needs_dev_parts(tiny_corpus: Any, tmp_path: Path) -> None:
    audio = tiny_corpus.recipe("pepino2020/audio", SELECT)
    no_dev = [Fold(f.name, train=f.train + f.dev, dev=(), test=f.test) for f in tiny_corpus.folds]
    with pytest.raises(ConfigError, match="no dev part"):
        _run(tiny_corpus, [audio], no_dev, tmp_path / "a")
