"""makiuchi2021's inputs in the runner: per-speaker mean embeddings by part of a fold, multi-input recipes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from emofuse.errors import ConfigError
from emofuse.recipes import load_recipe
from emofuse.train.data import FeatureCache
from emofuse.train.speaker_mean import SpeakerMeanSource


class _Store:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def get(self, encoder_id: str, key: str) -> np.ndarray:
        return self.arrays[key]


def test_speaker_means_come_from_the_same_part_of_the_fold() -> None:
    # speaker a: 2 training utterances and 1 test utterance (speaker-dependent fold); b train; c test; x no speaker
    emb = {"a1": [1.0, 0.0], "a2": [3.0, 0.0], "a3": [0.0, 9.0], "b1": [0.0, 2.0], "c1": [5.0, 5.0],
           "c2": [7.0, 5.0], "x1": [4.0, 4.0]}  # fmt: skip
    speakers = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "c1": "c", "c2": "c", "x1": None}
    src = SpeakerMeanSource("speaker", "spk-id", {u: u for u in emb}, speakers=speakers)
    cache = FeatureCache(_Store({u: np.asarray(v, np.float32) for u, v in emb.items()}))
    fold = SimpleNamespace(train=["a1", "a2", "b1"], dev=[], test=["a3", "c1", "c2", "x1"])
    src.prepare_fold(fold, cache)
    np.testing.assert_allclose(
        src.raw(cache, "a1"), [2.0, 0.0]
    )  # training mean of a, no test utterance in it
    np.testing.assert_allclose(src.raw(cache, "a2"), [2.0, 0.0])
    np.testing.assert_allclose(src.raw(cache, "a3"), [0.0, 9.0])  # a's test mean: its own test utterances
    np.testing.assert_allclose(src.raw(cache, "c2"), [6.0, 5.0])  # a test speaker: its own utterances
    np.testing.assert_allclose(src.raw(cache, "x1"), [4.0, 4.0])  # unknown speaker: its own embedding
    src.prepare_fold(SimpleNamespace(train=["a1", "a2", "a3"], dev=[], test=["c1"]), cache)
    np.testing.assert_allclose(src.raw(cache, "a1"), [4.0 / 3, 3.0])  # another fold, other means
    np.testing.assert_allclose(src.raw(cache, "c1"), [5.0, 5.0])


def test_makiuchi2021_speech_recipe_is_the_cross_representation_model() -> None:
    small, large = load_recipe("makiuchi2021/speech"), load_recipe("makiuchi2021/speech_large")
    for recipe, (d, f) in ((small, (8, 48)), (large, (128, 2))):
        branch = recipe.model.branches["speech"]
        assert branch.type == "crossrep" and (branch.params["dim_neck"], branch.params["freq"]) == (d, f)
        assert branch.inputs == {"speaker": "speaker", "phones": "phones", "mel": "mel"}
    assert small.features["speaker"].per_speaker == "mean"
    assert small.features["phones"].training_only and small.features["mel"].training_only
    assert small.features["phones"].input == "audio_transcript"
    assert small.training.max_steps == 1_000_000 and small.training.batch_size == 2
    assert load_recipe("makiuchi2021/speech_mel").features["speech"].encoder == "spectral.logmel80"
    for name in ("text", "fusion", "fusion_fixed"):
        text = load_recipe(f"makiuchi2021/{name}").features["text"].encoder
        assert isinstance(text, dict) and text["special_tokens"] == "drop"
    fusion = load_recipe("makiuchi2021/fusion_fixed", overrides=["training.max_epochs=3"])
    pre = fusion.training.pretrain
    assert pre is not None and (pre.max_epochs, pre.lr, pre.warmup_steps) == (None, None, None)
    assert fusion.training.lr == 1e-4 and fusion.training.max_epochs == 3  # what a lone run pre-trains with


def test_a_branch_input_must_be_a_feature_and_a_known_role() -> None:
    with pytest.raises(ConfigError, match="must name the same features"):
        load_recipe("makiuchi2021/speech", overrides=["model.branches.speech.inputs.mel=nowhere"])
    from emofuse.train._nn_adapter import check_model_config

    recipe = load_recipe("makiuchi2021/text", overrides=["model.branches.text.inputs.speaker=text"])
    with pytest.raises(ConfigError, match="inputs: unknown role"):
        check_model_config(recipe.model)
