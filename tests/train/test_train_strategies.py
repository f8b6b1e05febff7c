"""Training strategies: what pepino2020 freezes really stays frozen (parameters and batch-norm statistics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from emofuse.train.data import BranchSource, EmotionDataset, FeatureCache, encode_targets, fit_standardizers
from emofuse.train.features import FeaturePlan
from emofuse.train.fit import fit_model
from emofuse.train.model import build_model
from emofuse.train.strategies import apply_strategy, initialise, load_pretrained_branches

LABELS = ["angry", "happy", "sad", "neutral"]


def _datasets(corpus: Any, recipe: Any) -> tuple[EmotionDataset, EmotionDataset, dict[str, BranchSource]]:
    plan = FeaturePlan(
        corpus.table, corpus.store, encoder_ids=corpus.encoder_ids, extract_missing=False, progress=False
    )
    sources = plan.sources(recipe)
    cache = FeatureCache(corpus.store)
    targets = encode_targets(corpus.table, "classes", LABELS, recipe.data.label_map)
    fold = corpus.folds[0]
    fit_standardizers(sources, cache, fold.train)
    return (
        EmotionDataset(fold.train, sources, cache, targets),
        EmotionDataset(fold.dev, sources, cache, targets),
        sources,
    )


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], model: torch.nn.Module, prefix: str) -> dict[str, bool]:
    after = model.state_dict()
    out = {k: not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix)}
    assert out, f"no state under {prefix}"
    return out


@pytest.mark.parametrize("system", ["ef_cs", "ef_pt", "ef_ws", "lf_pt"])
def test_strategy_trains_exactly_the_layers_it_should(tiny_corpus: Any, tmp_path: Path, system: str) -> None:
    recipe = tiny_corpus.recipe(f"pepino2020/{system}", "training.lr=0.01")
    train, dev, _ = _datasets(tiny_corpus, recipe)
    dims = train.input_dims()
    tr = recipe.training
    L.seed_everything(0, verbose=False)
    states = {}
    if tr.strategy != "cold_start":
        for branch in recipe.model.branches:  # branches pre-trained alone with their own heads
            single = build_model(recipe.model.single_branch(branch), dims, len(LABELS))
            fit_model(single, train, dev, tr, "classes", LABELS, 0, tmp_path, max_epochs=1, progress=False)
            states[branch] = (_snapshot(single), branch)
    model = build_model(recipe.model, dims, len(LABELS))
    initialise(model, tr.init)
    load_pretrained_branches(model, states)
    for state, _ in states.values():  # really loaded
        for key, value in state.items():
            if key.startswith(("branches.", "branch_heads.")):
                assert torch.equal(model.state_dict()[key], value), key
    apply_strategy(model, tr.strategy)
    before = _snapshot(model)
    fit_model(model, train, dev, tr, "classes", LABELS, 0, tmp_path, max_epochs=2, progress=False)

    fusion_prefix = "fuse.head." if recipe.model.fusion == "early" else "fuse.combiner."
    assert all(_changed(before, model, fusion_prefix).values()), "the layers after merging must train"
    audio = _changed(before, model, "branches.audio.")
    text = _changed(before, model, "branches.text.")
    heads = _changed(before, model, "branch_heads.")
    branch_state = {**audio, **text}
    if tr.strategy == "cold_start":
        trained = [k for k, v in branch_state.items() if v and not k.endswith("num_batches_tracked")]
        assert len(trained) >= len(branch_state) * 0.8
    elif tr.strategy == "pretrained":
        assert not any(branch_state.values()), [k for k, v in branch_state.items() if v]
        assert not any(heads.values())
    else:  # warm start: only the layers right before pooling (last conv block: L_A2 / L_T3) move
        moved = sorted(k for k, v in branch_state.items() if v)
        assert moved and all(".convs.1." in k for k in moved), moved
        frozen = [k for k in branch_state if ".convs.1." not in k]
        assert frozen and not any(branch_state[k] for k in frozen)
        # text batch-norm statistics of the frozen layers stay put too
        assert any("proj.norm.running_mean" in k for k in frozen)


def test_seed_makes_training_deterministic(tiny_corpus: Any, tmp_path: Path) -> None:
    recipe = tiny_corpus.recipe("pepino2020/ef_cs")
    train, dev, _ = _datasets(tiny_corpus, recipe)
    results = []
    for seed in (3, 3, 4):
        L.seed_everything(seed, verbose=False)
        model = build_model(recipe.model, train.input_dims(), len(LABELS))
        initialise(model, "xavier_uniform")
        fit_model(model, train, dev, recipe.training, "classes", LABELS, seed, tmp_path, progress=False)
        results.append(_snapshot(model))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    assert not all(torch.equal(results[0][k], results[2][k]) for k in results[0])
