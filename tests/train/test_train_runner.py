"""The runner: systems x seeds x folds end to end on the tiny corpus, resuming after an interruption."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from emofuse.errors import ConfigError
from emofuse.train.model import build_model
from emofuse.train.rundir import DONE_FILE as DONE
from emofuse.train.rundir import RunDir
from emofuse.train.runner import is_complete, order_systems, run_experiment

SYSTEMS = ["pepino2020/ef_pt", "pepino2020/audio", "pepino2020/text_bert"]


class _Stop(Exception):
    pass


def _recipes(tiny: Any, names: list[str] = SYSTEMS) -> list[Any]:
    return [tiny.recipe(n) for n in names]


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("*/seed*/fold*/*") if p.is_file()}


def test_end_to_end_two_seeds_two_folds_then_resume(tiny_corpus: Any, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    recipes = _recipes(tiny_corpus)
    assert [r.name for r in order_systems(recipes)] == ["audio", "text_bert", "ef_pt"]
    finished: list[dict[str, Any]] = []

    def interrupt_after_five(row: dict[str, Any]) -> None:
        finished.append(row)
        if len(finished) == 5:
            raise _Stop

    with pytest.raises(_Stop):
        run_experiment(
            recipes,
            tiny_corpus.table,
            tiny_corpus.folds,
            tiny_corpus.store,
            out,
            seeds=2,
            encoder_ids=tiny_corpus.encoder_ids,
            extract_missing=False,
            progress=False,
            on_run_done=interrupt_after_five,
        )
    done_before = _mtimes(out)
    assert len(list(out.glob("*/seed*/fold*/" + DONE))) == 5
    # a killed run leaves a directory without the marker: it must be redone, not trusted
    partial = out / "text_bert" / "seed0" / "fold2"
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "predictions.csv").write_text("half written")
    assert not is_complete(partial)

    result = run_experiment(
        recipes,
        tiny_corpus.table,
        tiny_corpus.folds,
        tiny_corpus.store,
        out,
        seeds=2,
        encoder_ids=tiny_corpus.encoder_ids,
        extract_missing=False,
        progress=False,
    )
    runs = result.runs
    assert len(runs) == 3 * 2 * 2
    assert (runs["status"] == "skipped").sum() == 5 and (runs["status"] == "trained").sum() == 7
    after = _mtimes(out)
    assert all(after[k] == v for k, v in done_before.items()), "finished runs were touched"
    assert (partial / DONE).is_file() and pd.read_csv(partial / "predictions.csv")["utterance_id"].size > 0

    # every run directory is complete and in the contract's format
    for row in runs.itertuples():
        d = Path(row.run_dir)
        assert is_complete(d)
        preds = pd.read_csv(d / "predictions.csv")
        assert list(preds.columns[:6]) == ["system", "seed", "fold", "utterance_id", "label", "pred"]
        assert [c for c in preds.columns if c.startswith("p_")] == [f"p_{c}" for c in tiny_corpus.labels]
        fold = next(f for f in tiny_corpus.folds if f.name == row.fold)
        assert sorted(preds["utterance_id"]) == sorted(fold.test)
        assert np.allclose(preds[[f"p_{c}" for c in tiny_corpus.labels]].sum(axis=1), 1.0, atol=1e-5)
        assert set(preds["label"]) <= set(tiny_corpus.labels)  # excited was mapped to happy
        cfg = RunDir(d).read_config().model_dump(mode="json")
        assert cfg["labels"] == list(tiny_corpus.labels) and cfg["task"] == "classes"
        state = load_file(str(d / "model.safetensors"))
        model = build_model(
            type(tiny_corpus.recipe(SYSTEMS[0]).model).model_validate(cfg["model"]),
            cfg["input_dims"],
            len(cfg["labels"]),
        )
        model.load_state_dict(state)  # the saved weights rebuild the model from run_config alone
        if row.system == "audio":
            std = cfg["branches"]["audio"]["standardizer"]
            assert (
                std is not None and abs(np.mean(std["mean"]) - 5.0) < 1.0
            )  # fitted on the fold's training ids
        metrics = json.loads((d / "metrics.json").read_text())
        assert 0.0 <= metrics["test"]["uar"] <= 1.0 and metrics["epochs_run"] == 2

    # ef_pt started from the audio and text_bert runs of the same seed and fold, and kept them frozen
    d = out / "ef_pt" / "seed1" / "fold1"
    info = json.loads((d / "metrics.json").read_text())["pretrain"]
    assert info["audio"]["from_run"].endswith("audio/seed1/fold1")
    fused = load_file(str(d / "model.safetensors"))
    audio = load_file(str(out / "audio" / "seed1" / "fold1" / "model.safetensors"))
    branch_keys = [k for k in audio if k.startswith(("branches.audio.", "branch_heads.audio."))]
    assert len(branch_keys) > 4
    for key in branch_keys:
        assert torch.equal(fused[key], audio[key]), key

    # the aggregate report
    rep = result.report
    assert rep is not None and rep.markdown_path.is_file() and (out / "report.json").is_file()
    assert set(rep.summary) == {"audio", "text_bert", "ef_pt"}
    assert rep.summary["audio"]["uar"]["n"] == 2
    assert any(p.name.startswith("spread_uar") for p in rep.plots["spread"])
    assert all(p.is_file() for paths in rep.plots.values() for p in paths)


def test_changed_recipe_reruns_and_inline_pretraining(tiny_corpus: Any, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    common = dict(encoder_ids=tiny_corpus.encoder_ids, extract_missing=False, progress=False, report=False)
    ws = tiny_corpus.recipe("pepino2020/ef_ws", "training.pretrain.max_epochs=1")
    first = run_experiment(
        [ws], tiny_corpus.table, tiny_corpus.folds[:1], tiny_corpus.store, out, seeds=[0], **common
    )
    assert list(first.runs["status"]) == ["trained"]
    info = json.loads((out / "ef_ws" / "seed0" / "fold1" / "metrics.json").read_text())
    assert (
        info["pretrain"]["audio"]["trained_in_run"] is True
    )  # no audio system in the set: trained alone first
    assert all(".convs.1." in n or n.startswith("fuse.head") for n in info["trainable_parameters"])
    again = run_experiment(
        [ws], tiny_corpus.table, tiny_corpus.folds[:1], tiny_corpus.store, out, seeds=[0], **common
    )
    assert list(again.runs["status"]) == ["skipped"]
    changed = tiny_corpus.recipe("pepino2020/ef_ws", "training.pretrain.max_epochs=1", "training.lr=0.001")
    third = run_experiment(
        [changed], tiny_corpus.table, tiny_corpus.folds[:1], tiny_corpus.store, out, seeds=[0], **common
    )
    assert list(third.runs["status"]) == ["trained"]


def test_runner_rejects_bad_inputs(tiny_corpus: Any, tmp_path: Path) -> None:
    from emofuse.corpus.protocols import Fold
    from emofuse.errors import FeatureStoreError

    kw = dict(encoder_ids=tiny_corpus.encoder_ids, extract_missing=False, progress=False)
    audio = tiny_corpus.recipe("pepino2020/audio")
    bad_fold = Fold("x", train=("utt000", "nope"), dev=(), test=("utt001",))
    with pytest.raises(ConfigError, match="lacks.*nope"):
        run_experiment([audio], tiny_corpus.table, [bad_fold], tiny_corpus.store, tmp_path, seeds=1, **kw)
    with pytest.raises(ConfigError, match="two recipes are named 'audio'"):
        run_experiment(
            [audio, audio], tiny_corpus.table, tiny_corpus.folds, tiny_corpus.store, tmp_path, **kw
        )
    other = tiny_corpus.recipe("pepino2020/audio", "features.audio.encoder=fake.other")
    with pytest.raises(FeatureStoreError, match="lacks 32 feature"):
        run_experiment(
            [other],
            tiny_corpus.table,
            tiny_corpus.folds,
            tiny_corpus.store,
            tmp_path,
            seeds=1,
            encoder_ids={**tiny_corpus.encoder_ids, "fake.other": "fakeother-1"},
            extract_missing=False,
            progress=False,
        )


def test_avd_regression_recipe_with_early_stopping(tiny_corpus: Any, tmp_path: Path) -> None:
    """A deoliveira2023-style system: mean+max branches, early fusion, A/V/D head, CCC loss, early stopping."""
    from emofuse.recipes import load_recipe

    recipe = load_recipe(
        {
            "name": "avd_mm",
            "paper": "deoliveira2023",
            "data": {"task": "avd"},
            "features": {
                "audio": {"encoder": "fake.audio", "input": "audio", "standardize": True},
                "text": {"encoder": "fake.text", "input": "transcript"},
            },
            "model": {
                "branches": {
                    "audio": {"type": "mean_max", "params": {"proj_dim": 8}},
                    "text": {"type": "mean_max"},
                },
                "fusion": "early",
                "fusion_params": {"hidden": 8},
                "head": {"type": "avd"},
            },
            "training": {
                "optimizer": "adamw",
                "lr": 0.003,
                "max_epochs": 6,
                "batch_size": 8,
                "early_stopping": {"monitor": "ccc", "patience": 2},
                "seeds": 1,
            },
            "protocol": {"kind": "speaker-kfold", "k": 2},
        }
    )
    result = run_experiment(
        recipe,
        tiny_corpus.table,
        tiny_corpus.folds,
        tiny_corpus.store,
        tmp_path,
        encoder_ids=tiny_corpus.encoder_ids,
        extract_missing=False,
        progress=False,
    )
    preds = result.predictions
    assert {f"{p}_{d}" for p in ("true", "pred") for d in ("arousal", "valence", "dominance")} <= set(
        preds.columns
    )
    metrics = json.loads((tmp_path / "avd_mm" / "seed0" / "fold1" / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["history"]] == list(range(metrics["epochs_run"]))
    dev_ccc = [r["dev_ccc"] for r in metrics["history"]]
    assert metrics["best_epoch"] == int(np.argmax(dev_ccc))
    assert metrics["dev"]["ccc"] == pytest.approx(
        max(dev_ccc), abs=1e-4
    )  # the best epoch's weights were restored
    assert (
        -1.0 <= metrics["test"]["ccc"] <= 1.0
        and not (tmp_path / "avd_mm" / "seed0" / "fold1" / "checkpoints").exists()
    )
    assert result.report.task == "avd" and "ccc" in result.report.metrics


def test_one_run_is_a_function_of_a_picklable_spec(tiny_corpus: Any, tmp_path: Path) -> None:
    """A run can go to a worker process: its spec survives pickling and the unpickled spec trains, then resumes."""
    import pickle

    from emofuse.train.features import FeaturePlan
    from emofuse.train.steps import RunSpec, run_one

    recipe = tiny_corpus.recipe("pepino2020/audio", "training.seeds=1", "training.max_epochs=1")
    plan = FeaturePlan(
        tiny_corpus.table, tiny_corpus.store, None, tiny_corpus.encoder_ids, False, progress=False
    )
    fold = tiny_corpus.folds[0]
    spec = RunSpec(
        recipe, 0, 0, fold, plan.sources(recipe), tiny_corpus.table, tiny_corpus.store.root, tmp_path
    )
    row = run_one(pickle.loads(pickle.dumps(spec)))
    assert row["status"] == "trained" and RunDir(row["run_dir"]).is_complete()
    assert RunDir(row["run_dir"]).read_config().fold == fold.name
    assert run_one(pickle.loads(pickle.dumps(spec)))["status"] == "skipped"


def test_a_protocol_the_table_cannot_honour_stops_unless_the_weaker_one_is_accepted(
    tiny_corpus: Any, tmp_path: Path
) -> None:
    """pepino2020's speaker+script folds on a table without scripts: an error, or speaker-kfold said in the report."""
    recipes = [tiny_corpus.recipe("pepino2020/audio", "protocol.k=2")]
    assert recipes[0].protocol.kind == "speaker-script" and tiny_corpus.table["script"].isna().all()
    kwargs = dict(seeds=1, encoder_ids=tiny_corpus.encoder_ids, extract_missing=False, progress=False)
    with pytest.raises(
        ConfigError, match="speaker-script needs the 'script' column.*--accept-weaker-protocol"
    ):
        run_experiment(recipes, tiny_corpus.table, None, tiny_corpus.store, tmp_path / "a", **kwargs)
    assert not (tmp_path / "a" / "audio").exists()  # stopped before any run
    result = run_experiment(
        recipes,
        tiny_corpus.table,
        None,
        tiny_corpus.store,
        tmp_path / "b",
        accept_weaker_protocol=True,
        **kwargs,
    )
    assert sorted(result.runs["fold"]) == ["fold1", "fold2"]
    text = result.report.markdown_path.read_text()
    assert "Protocol: speaker-kfold (the recipe asks for speaker-script" in text
    assert json.loads(result.report.json_path.read_text())["notes"][0].startswith("Protocol: speaker-kfold")
    given = run_experiment(
        recipes, tiny_corpus.table, tiny_corpus.folds, tiny_corpus.store, tmp_path / "c", **kwargs
    )
    assert "Protocol: the folds given" in given.report.markdown_path.read_text()
