"""The classic baseline as an emofuse system: a linear SVM (scikit-learn) fitted by the runner, C chosen on dev."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score
from sklearn.svm import LinearSVC

from emofuse.encoders import Standardizer
from emofuse.errors import ConfigError
from emofuse.hashing import audio_key
from emofuse.recipes import load_recipe
from emofuse.train.runner import run_experiment

SVM = ["features.audio.encoder=fake.audio", "data.label_map={excited: happy}"]


def _vectors(tiny: Any, ids: list[str], scaler: Standardizer) -> np.ndarray:
    paths = dict(zip(tiny.table["utterance_id"], tiny.table["audio_path"], strict=True))
    arrays = [tiny.store.get(tiny.encoder_ids["fake.audio"], audio_key(paths[u])) for u in ids]
    return np.stack([scaler.transform(a).mean(axis=0) for a in arrays])


def test_svm_system_matches_sklearn_with_c_from_dev(tiny_corpus: Any, tmp_path: Path) -> None:
    recipe = load_recipe("baseline/egemaps_svm", SVM)
    fold = tiny_corpus.folds[0]
    result = run_experiment(
        recipe,
        tiny_corpus.table,
        [fold],
        tiny_corpus.store,
        tmp_path / "out",
        seeds=[0],
        encoder_ids=tiny_corpus.encoder_ids,
        progress=False,
        report=False,
    )
    run = tmp_path / "out" / "egemaps_svm" / "seed0" / "fold1"
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["C"] for h in history[:-1]] == recipe.estimator.c_grid

    # the same thing by hand: z-score on train frames, mean over time, C by dev UAR, refit on train + dev
    labels = list(recipe.data.labels)
    lab = {
        u: ("happy" if v == "excited" else v)
        for u, v in zip(tiny_corpus.table["utterance_id"], tiny_corpus.table["label"], strict=True)
    }
    paths = dict(zip(tiny_corpus.table["utterance_id"], tiny_corpus.table["audio_path"], strict=True))
    scaler = Standardizer().fit(
        [
            tiny_corpus.store.get(tiny_corpus.encoder_ids["fake.audio"], audio_key(paths[u]))
            for u in fold.train
        ]
    )
    x_tr, x_dev, x_te = (
        _vectors(tiny_corpus, list(ids), scaler) for ids in (fold.train, fold.dev, fold.test)
    )
    y_tr, y_dev = (np.array([labels.index(lab[u]) for u in ids]) for ids in (fold.train, fold.dev))
    dev_uar = []
    for c in recipe.estimator.c_grid:
        svm = LinearSVC(C=c, class_weight="balanced", max_iter=20000, random_state=0).fit(x_tr, y_tr)
        dev_uar.append(recall_score(y_dev, svm.predict(x_dev), average="macro", labels=np.unique(y_dev)))
    np.testing.assert_allclose([h["dev_uar"] for h in history[:-1]], dev_uar, atol=1e-9)
    chosen = recipe.estimator.c_grid[int(np.argmax(dev_uar))]
    assert history[-1] == {"chosen_C": chosen, "refit_on": "train_dev"}
    svm = LinearSVC(C=chosen, class_weight="balanced", max_iter=20000, random_state=0).fit(
        np.concatenate([x_tr, x_dev]), np.concatenate([y_tr, y_dev])
    )
    preds = pd.read_csv(run / "predictions.csv").set_index("utterance_id").loc[list(fold.test)]
    assert list(preds["pred"]) == [labels[k] for k in svm.predict(x_te)]
    assert result.runs["status"].tolist() == ["trained"]


def test_estimator_recipe_checks() -> None:
    with pytest.raises(ConfigError, match="pass the features through"):
        load_recipe("baseline/egemaps_svm", [*SVM, "model.branches.audio.params={out_dim: 16}"])
    with pytest.raises(ConfigError, match="linear head"):
        load_recipe("baseline/egemaps_svm", [*SVM, "model.head.params={hidden: 8}"])
