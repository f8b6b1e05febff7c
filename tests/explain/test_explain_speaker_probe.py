"""makiuchi2021's speaker-identification probe (Table 3) on bottleneck-like features."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.errors import ConfigError
from emofuse.explain.speaker_probe import speaker_probe


def _features(spread: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16)) * spread
    speakers = [f"spk{i}" for i in range(4) for _ in range(15)]
    x = np.stack([centres[int(s[-1])] for s in speakers]) + rng.normal(size=(60, 16))
    return x.astype(np.float32), speakers


def test_probe_finds_speaker_identity_only_where_there_is_some() -> None:
    leaky = speaker_probe(*_features(3.0), hidden=(32, 16, 16), max_iter=300)
    clean = speaker_probe(*_features(0.0), hidden=(32, 16, 16), max_iter=300)
    assert leaky["n_speakers"] == 4 and leaky["chance"] == 0.25 and len(leaky["per_fold"]) == 5
    assert leaky["accuracy"] > 0.9 and leaky["uar"] > 0.9
    assert clean["accuracy"] < 0.5  # chance is 0.25
    assert leaky["hidden"] == [32, 16, 16]  # + the output layer: the paper's 4 linear layers


def test_probe_needs_enough_utterances_per_speaker() -> None:
    x, speakers = _features(1.0)
    with pytest.raises(ConfigError, match="folds need"):
        speaker_probe(x[:8], speakers[:4] + ["spk1"] * 4, hidden=(8,))
