"""Fixtures of the train tests: a tiny corpus whose features sit in a FeatureStore directly.

Audio is a real (tiny) WAV file per utterance so that the store keys are the real audio keys; the arrays are
synthetic: the class shows in the audio features of some utterances and in the text features of others, so
that both modalities carry part of the signal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emofuse.audio import write_wav
from emofuse.corpus.protocols import Fold
from emofuse.corpus.table import make_table
from emofuse.encoders import FeatureStore
from emofuse.hashing import audio_key, text_key
from emofuse.recipes import load_recipe
from emofuse.recipes.schema import Recipe

LABELS = ["angry", "happy", "sad", "neutral"]
AUDIO_DIM, TEXT_DIM = 6, 10
AUDIO_SPEC, TEXT_SPEC = "fake.audio", "fake.text"
ENCODER_IDS = {AUDIO_SPEC: "fakeaudio-0001", TEXT_SPEC: "faketext-0001"}
TINY = [
    f"features.audio.encoder={AUDIO_SPEC}",
    f"features.text.encoder={TEXT_SPEC}",
    "model.branches.audio.params={filters: [8, 6], kernel_sizes: [3, 3]}",
    "model.branches.text.params={proj_dim: 8, filters: [8, 8], kernel_sizes: [3, 3]}",
    "training.max_epochs=2",
    "training.batch_size=8",
    "training.warmup_steps=2",
]


@dataclass
class TinyCorpus:
    """The tiny corpus: table, store, two speaker-disjoint folds; ``recipe(name, *overrides)`` shrinks a recipe."""

    table: pd.DataFrame
    store: FeatureStore
    folds: list[Fold]
    labels: tuple[str, ...] = tuple(LABELS)
    encoder_ids: dict[str, str] | None = None

    def recipe(self, name: str, *extra: str) -> Recipe:
        return tiny_recipe(name, *extra)


def tiny_recipe(name: str, *extra: str) -> Recipe:
    """A packaged pepino2020 recipe shrunk for tests (fake encoders, tiny layers, 2 epochs)."""
    base = load_recipe(name)

    def applies(override: str) -> bool:
        path = override.split("=", 1)[0].split(".")
        branch = path[1] if path[0] == "features" else path[2] if path[:2] == ["model", "branches"] else None
        return branch is None or branch in base.features

    overrides = [o for o in TINY if applies(o)]
    return load_recipe(name, [*overrides, *extra])


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> TinyCorpus:
    root: Path = tmp_path_factory.mktemp("tiny_corpus")
    rng = np.random.default_rng(7)
    store = FeatureStore(root / "store")
    records = []
    for i in range(32):
        label = ["angry", "excited", "sad", "neutral"][i % 4]  # excited -> happy by the recipes' label map
        cls = LABELS.index("happy" if label == "excited" else label)
        uid = f"utt{i:03d}"
        wav = root / "wav" / f"{uid}.wav"
        wav.parent.mkdir(exist_ok=True)
        write_wav(wav, (0.01 * rng.standard_normal(800)).astype(np.float32), 16_000)
        text = f"utterance {i} says something {label}"
        avd = {
            "arousal": 1.0 + cls + 0.3 * rng.standard_normal(),
            "valence": 4.0 - cls + 0.3 * rng.standard_normal(),
            "dominance": 3.0 + 0.5 * rng.standard_normal(),
        }
        records.append(
            dict(
                utterance_id=uid,
                audio_path=str(wav),
                speaker=f"spk{i % 8}",
                transcript=text,
                label=label,
                **avd,
            )
        )
        audio = rng.standard_normal((int(rng.integers(12, 30)), AUDIO_DIM)).astype(np.float32)
        words = rng.standard_normal((int(rng.integers(4, 9)), TEXT_DIM)).astype(np.float32)
        if i % 3 != 0:
            audio[:, cls] += 1.5
        if i % 3 != 1:
            words[:, cls] += 1.5
        store.put(ENCODER_IDS[AUDIO_SPEC], audio_key(wav), audio * 3.0 + 5.0)
        store.put(ENCODER_IDS[TEXT_SPEC], text_key(text), words)
    table = make_table(records, corpus="tiny")
    ids = {s: tuple(table.loc[table["speaker"] == s, "utterance_id"]) for s in sorted(set(table["speaker"]))}

    def part(speakers: list[int]) -> tuple[str, ...]:
        return tuple(u for s in speakers for u in ids[f"spk{s}"])

    folds = [
        Fold("fold_a", train=part([0, 1, 2, 3, 4]), dev=part([5]), test=part([6, 7])),
        Fold("fold_b", train=part([2, 3, 4, 5, 6]), dev=part([7]), test=part([0, 1])),
    ]
    return TinyCorpus(table, store, folds, encoder_ids=dict(ENCODER_IDS))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread (and the CI machine's 2 cores are shared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
