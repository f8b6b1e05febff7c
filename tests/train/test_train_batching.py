"""Length-bucketed batches: the sampler, the cached-mode lengths, and the runner using them when a recipe asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emofuse.recipes import list_recipes, load_recipe
from emofuse.recipes.schema import TrainingConfig
from emofuse.train import fit as fit_module
from emofuse.train.batching import LengthBucketSampler, uses_length_buckets
from emofuse.train.data import EmotionDataset, FeatureCache
from emofuse.train.fit import make_loader
from emofuse.train.runner import run_experiment


def _batches(sampler: LengthBucketSampler) -> list[list[int]]:
    return [list(b) for b in sampler]


def test_sampler_groups_similar_lengths_and_is_seeded() -> None:
    lengths = np.random.default_rng(3).integers(5, 400, size=75).tolist()
    first, again, other = (LengthBucketSampler(lengths, 16, s) for s in (11, 11, 12))
    epochs = [_batches(first), _batches(first)]
    assert epochs == [_batches(again), _batches(again)]  # same seed: same batches, epoch after epoch
    assert epochs[0] != _batches(other)  # another seed: another order
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(75))  # every utterance once per epoch
        assert sorted(len(b) for b in batches) == [11, 16, 16, 16, 16] and len(first) == 5
        # buckets: sorted by their shortest utterance, no bucket reaches below the longest of the one before
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
        assert all(spans[k][1] <= spans[k + 1][0] for k in range(len(spans) - 1))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in epochs[0])
    shuffled = np.random.default_rng(0).permutation(75)
    plain = sum(16 * max(lengths[i] for i in shuffled[k : k + 16]) for k in range(0, 75, 16))
    assert padded < plain


def test_uses_length_buckets_defaults_by_mode() -> None:
    assert not uses_length_buckets(TrainingConfig())  # cached: off unless asked
    assert uses_length_buckets(TrainingConfig(mode="end_to_end"))
    assert uses_length_buckets(TrainingConfig(length_bucketing=True))
    assert not uses_length_buckets(TrainingConfig(mode="end_to_end", length_bucketing=False))


def test_deoliveira2023_recipes_bucket_batches_of_16() -> None:
    names = [n for n in list_recipes() if n.startswith("deoliveira2023/")]
    assert len(names) >= 21
    for name in names:
        training = load_recipe(name).training
        assert training.batch_size == 16 and uses_length_buckets(training), name


def test_cached_lengths_are_stored_frames(tiny_corpus: Any) -> None:
    from emofuse.train.data import BranchSource, branch_keys, encode_targets

    table: pd.DataFrame = tiny_corpus.table
    ids = list(table["utterance_id"])
    cache = FeatureCache(tiny_corpus.store)
    keys = branch_keys(table, "audio")
    sources = {"audio": BranchSource("audio", tiny_corpus.encoder_ids["fake.audio"], keys)}
    targets = encode_targets(table, "avd", None, {})
    ds = EmotionDataset(ids, sources, cache, targets)
    expected = [tiny_corpus.store.get(tiny_corpus.encoder_ids["fake.audio"], keys[u]).shape[0] for u in ids]
    assert ds.lengths() == expected and len(set(expected)) > 5
    loader = make_loader(ds, 8, shuffle=True, seed=0, length_bucketing=True)
    assert isinstance(loader.batch_sampler, LengthBucketSampler)
    for batch in loader:  # each batch padded to its own longest utterance, a short span of lengths
        lens = batch["masks"]["audio"].sum(dim=1).tolist()
        assert batch["inputs"]["audio"].shape[1] == max(lens)
    assert not isinstance(make_loader(ds, 8, shuffle=False, seed=0).batch_sampler, LengthBucketSampler)


def test_runner_buckets_cached_batches_when_the_recipe_asks(
    tiny_corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[int] = []

    class Spy(LengthBucketSampler):
        def __iter__(self):  # type: ignore[no-untyped-def]
            used.append(len(self.lengths))
            return super().__iter__()

    monkeypatch.setattr(fit_module, "LengthBucketSampler", Spy)
    recipe = tiny_corpus.recipe("pepino2020/audio", "training.length_bucketing=true", "training.batch_size=4")
    preds = []
    for out in ("a", "b"):
        result = run_experiment(
            recipe,
            tiny_corpus.table,
            tiny_corpus.folds[:1],
            tiny_corpus.store,
            tmp_path / out,
            seeds=1,
            encoder_ids=tiny_corpus.encoder_ids,
            extract_missing=False,
            progress=False,
            report=False,
        )
        preds.append(result.predictions.sort_values("utterance_id").reset_index(drop=True))
    train_size = len(tiny_corpus.folds[0].train)
    assert used and set(used) == {train_size}  # the training loader of both runs was bucketed
    pd.testing.assert_frame_equal(preds[0], preds[1])  # deterministic for a seed
    plain = tiny_corpus.recipe("pepino2020/audio", "training.batch_size=4")
    used.clear()
    run_experiment(
        plain,
        tiny_corpus.table,
        tiny_corpus.folds[:1],
        tiny_corpus.store,
        tmp_path / "c",
        seeds=1,
        encoder_ids=tiny_corpus.encoder_ids,
        extract_missing=False,
        progress=False,
        report=False,
    )
    assert used == []  # cached recipes without the option keep plain shuffled batches
