"""All Whisper encoder layers in torch from the CTranslate2 weights: the last one must equal CTranslate2's output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from emofuse.encoders import build_encoder
from emofuse.errors import ModelLoadError


@pytest.fixture(scope="module")
def layers_encoder():
    return build_encoder({"kind": "whisper_layers", "pooling": "none", "layer_norm": False})


def test_last_layer_equals_ctranslate2(layers_encoder, speech) -> None:
    ct2 = build_encoder("whisper").encode(speech)  # [T, 384], CTranslate2 on the padded 30 s window
    hidden = layers_encoder.encode(speech)
    assert hidden.shape == (5, math.ceil(len(speech) / 320), 384) and layers_encoder.output == "layers"
    np.testing.assert_allclose(hidden[-1], ct2, atol=2e-3, rtol=0)
    # the earlier layers are different representations, not copies of the last
    assert np.abs(hidden[0] - hidden[-1]).mean() > 0.1


def test_real_length_mode_equals_ctranslate2_on_the_same_input(speech) -> None:
    # pad_to_window: false feeds only the real mel frames to both runtimes: the states agree again
    ct2 = build_encoder({"kind": "whisper", "pad_to_window": False}).encode(speech)
    short = build_encoder(
        {"kind": "whisper_layers", "pooling": "none", "layer_norm": False, "pad_to_window": False}
    ).encode(speech)
    np.testing.assert_allclose(short[-1], ct2, atol=2e-3, rtol=0)


def test_mean_std_pooling_and_layer_norm(layers_encoder, speech) -> None:
    pooled_enc = build_encoder({"kind": "whisper_layers"})  # defaults: mean_std, layer_norm
    pooled = pooled_enc.encode(speech)
    assert pooled.shape == (5, 1, 768) and pooled_enc.dim == 768
    hidden = layers_encoder.encode(speech)
    mu = hidden.mean(axis=-1, keepdims=True)
    normed = (hidden - mu) / np.sqrt(hidden.var(axis=-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(pooled[:, 0, :384], normed.mean(axis=1), atol=1e-3)
    np.testing.assert_allclose(pooled[:, 0, 384:], normed.std(axis=1), atol=1e-3)
    assert pooled_enc.encoder_id != layers_encoder.encoder_id


def test_bad_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        build_encoder({"kind": "whisper_layers", "model": str(tmp_path / "nope")})
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    with pytest.raises(ModelLoadError, match="model.bin"):
        build_encoder({"kind": "whisper_layers", "model": str(tmp_path / "m")})
