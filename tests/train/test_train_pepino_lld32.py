"""pepino2020/audio_lld32: the paper's LLD order (z-score on the training part, then the first-order differences)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emofuse.train.rundir import RunDir
from emofuse.train.runner import run_experiment


def _run(tiny: Any, recipes: list[Any], folds: list[Any], out: Path) -> Any:
    return run_experiment(
        recipes, tiny.table, folds, tiny.store, out, seeds=1, encoder_ids=tiny.encoder_ids,
        extract_missing=False, progress=False,
    )  # fmt: skip


def test_pepino_lld32_recipe_z_scores_then_appends_deltas(tiny_corpus: Any, tmp_path: Path) -> None:
    """pepino2020/audio_lld32: 18 raw LLDs in, z-scored on the training part, deltas after: the model reads 2 x D."""
    from emofuse.encoders.normalize import Standardizer

    recipe = tiny_corpus.recipe("pepino2020/audio_lld32", "training.max_epochs=1")
    assert (
        recipe.features["audio"].encoder == "fake.audio"
        and recipe.features["audio"].standardize == "then_deltas"
    )
    result = _run(tiny_corpus, [recipe], tiny_corpus.folds[:1], tmp_path / "lld32")
    run = RunDir(result.runs["run_dir"][0])
    config = run.read_config()
    raw_dim = tiny_corpus.store.get(tiny_corpus.encoder_ids["fake.audio"], _first_key(tiny_corpus)).shape[1]
    assert config.input_dims == {"audio": 2 * raw_dim}
    state = config.branches["audio"].standardizer
    assert state is not None and state["deltas"] == 1 and len(state["mean"]) == raw_dim
    assert Standardizer.from_dict(state).deltas == 1  # the packaged model standardises, then adds deltas


def _first_key(tiny: Any) -> str:
    from emofuse.hashing import audio_key

    return audio_key(tiny.table["audio_path"].iloc[0])
