"""Target normalisation on the training fold (perez2022 z-score, deoliveira2023 [0, 1]) and perez2022's
"learning rate x 0.75 whenever the validation loss rises", through the runner, the run directory and the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from emofuse.errors import ConfigError
from emofuse.train.target_norm import fit_target_scaling, normalise_targets


def _recipe(target_norm: str, lr_schedule: dict[str, Any] | None) -> Any:
    from emofuse.recipes import load_recipe

    return load_recipe(
        {
            "name": f"avd_{target_norm}",
            "data": {"task": "avd", "avd_names": ["arousal", "valence"], "target_norm": target_norm},
            "features": {"text": {"encoder": "fake.text", "input": "transcript"}},
            "model": {
                "branches": {"text": {"type": "mean_max"}},
                "fusion": "none",
                "head": {"type": "avd"},
            },
            "training": {
                "optimizer": "adamw",
                "lr": 0.05,  # large: the dev loss goes up and down
                "max_epochs": 8,
                "batch_size": 4,
                "seeds": 1,
                "lr_schedule": lr_schedule,
                "class_weighting": "none",
            },
            "protocol": {"kind": "speaker-kfold", "k": 2},
        }
    )


def test_scaling_uses_the_training_ids_only_and_round_trips() -> None:
    targets = {"a": np.array([1.0, 10.0]), "b": np.array([3.0, 10.0]), "c": np.array([100.0, -5.0])}
    z = fit_target_scaling("zscore", ["arousal", "valence"], targets, ["a", "b"])
    assert z is not None and z.offset == [2.0, 10.0] and z.scale == [1.0, 1.0]  # constant valence: scale 1
    unit = fit_target_scaling("unit", ["arousal", "valence"], targets, ["a", "b"])
    assert unit is not None and unit.offset == [1.0, 10.0] and unit.scale == [2.0, 1.0]
    normed = normalise_targets(targets, unit)
    assert normed["a"].tolist() == [0.0, 0.0] and normed["b"].tolist() == [1.0, 0.0]
    assert normed["c"][0] == pytest.approx(49.5)  # a test value outside the training range is not clipped
    back = unit.to_label_units(np.stack([normed[u] for u in "abc"]))
    assert np.allclose(back, np.stack([targets[u] for u in "abc"]), atol=1e-5)
    assert fit_target_scaling("none", ["arousal"], targets, ["a"]) is None
    with pytest.raises(ConfigError, match="no training utterance"):
        fit_target_scaling("zscore", ["arousal"], targets, ["zz"])


def test_target_norm_needs_regression() -> None:
    from emofuse.recipes import load_recipe

    with pytest.raises(ConfigError, match="target_norm 'zscore' normalises A/V/D values; it needs task: avd"):
        load_recipe("perez2022/bert_binned", ["data.target_norm=zscore"])


@pytest.mark.parametrize("kind", ["zscore", "unit"])
def test_runs_learn_normalised_targets_and_report_label_units(
    kind: str, tiny_corpus: Any, tmp_path: Path
) -> None:
    from emofuse.hashing import text_key
    from emofuse.serve.package import export_from_run, load_model
    from emofuse.train.collate import collate
    from emofuse.train.rundir import RunDir
    from emofuse.train.runner import run_experiment

    recipe = _recipe(kind, {"kind": "reduce_on_rise", "factor": 0.75})
    fold = tiny_corpus.folds[0]
    run_experiment(
        recipe, tiny_corpus.table, [fold], tiny_corpus.store, tmp_path,
        encoder_ids=tiny_corpus.encoder_ids, extract_missing=False, progress=False, report=False,
    )  # fmt: skip
    run = RunDir.of(tmp_path, recipe.name, 0, 0)
    scaling = run.read_config().target_scaling
    table = tiny_corpus.table.set_index("utterance_id")
    train = table.loc[list(fold.train), ["arousal", "valence"]].to_numpy(dtype=np.float64)
    if kind == "zscore":
        assert np.allclose(scaling.offset, train.mean(axis=0)) and np.allclose(
            scaling.scale, train.std(axis=0)
        )
    else:
        assert np.allclose(scaling.offset, train.min(axis=0))
        assert np.allclose(scaling.scale, train.max(axis=0) - train.min(axis=0))
    assert scaling.kind == kind and scaling.n_train == len(fold.train)

    preds = pd.read_csv(run.predictions_path, dtype={"utterance_id": str})
    truth = table.loc[preds["utterance_id"], ["arousal", "valence"]].to_numpy(dtype=np.float64)
    assert np.allclose(preds[["true_arousal", "true_valence"]].to_numpy(), truth, atol=1e-4)  # label units

    # the package maps the network's normalised outputs back to label units, as the predictions table has them
    package = load_model(export_from_run(run.path, tmp_path / "package"), build_encoders=False)
    assert package.config.target_scaling == scaling
    uid = str(preds["utterance_id"].iloc[0])
    feats = tiny_corpus.store.get("faketext-0001", text_key(str(table.loc[uid, "transcript"])))
    batch = collate([{"utterance_id": uid, "features": {"text": feats}, "target": np.zeros(2, np.float32)}])
    with torch.no_grad():
        raw = package.network(batch["inputs"], batch["masks"])["output"].numpy()[0]
    expected = preds.loc[preds["utterance_id"] == uid, ["pred_arousal", "pred_valence"]].to_numpy()[0]
    assert np.allclose(package.to_label_units(raw), expected, atol=1e-4)
    assert not np.allclose(raw, expected, atol=1e-2)  # the raw outputs are not in label units

    # the learning rate fell by 0.75 after exactly the epochs whose dev loss rose above the previous epoch's
    metrics = json.loads(run.metrics_path.read_text())
    losses = [r["dev_loss"] for r in metrics["history"]]
    rises = [
        r["epoch"] for prev, r in zip(losses, metrics["history"][1:], strict=False) if r["dev_loss"] > prev
    ]
    events = metrics["lr_reductions"]
    assert rises and [e["epoch"] for e in events] == rises
    assert [e["lr"] for e in events] == pytest.approx([0.05 * 0.75 ** (k + 1) for k in range(len(events))])
