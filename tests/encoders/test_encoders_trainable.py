"""TrainableEncoder (end_to_end mode) computes, on a padded batch, what the cached encoder stores per utterance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from emofuse.encoders import build_encoder
from emofuse.encoders.trainable import TrainableEncoder
from emofuse.errors import ConfigError

TEXTS = ["hello there", "I can not believe you did that to me [sil] again", ""]


def _batch(enc: TrainableEncoder, items: list[Any]) -> list[np.ndarray]:
    """Per item the un-padded output of the trainable encoder (as the cached encoder would store it)."""
    x, mask = TrainableEncoder.pad([enc.prepare(it) for it in items])
    with torch.no_grad():
        feats, fmask = enc.eval()(x, mask)
    out = []
    for b in range(len(items)):
        n = int(fmask[b].sum())
        arr = feats[b][..., :n, :] if feats.ndim == 4 else feats[b, :n]
        out.append(arr.numpy())
    return out


def _squeeze(arr: np.ndarray, stored: np.ndarray) -> np.ndarray:
    return arr.reshape(stored.shape)


@pytest.mark.parametrize(
    "options",
    [
        {"layers": "all"},
        {"layers": "last", "special_tokens": "drop"},
        {"layers": "sum_last4"},
        {"layers": "last", "pooling": "cls"},
        {"layers": "all", "pooling": "mean", "special_tokens": "drop"},
        {"layers": "last", "sil_token": True, "special_tokens": "drop"},
    ],
)
def test_text_matches_the_cached_encoder(options: dict[str, Any]) -> None:
    cached = build_encoder({"kind": "text", **options})  # MiniLM, offline
    trainable = TrainableEncoder(cached)  # the same weights, run on a padded batch
    for got, text in zip(_batch(trainable, TEXTS), TEXTS, strict=True):
        want = cached.encode(text)
        np.testing.assert_allclose(_squeeze(got, want), want, atol=2e-4)


@pytest.mark.parametrize(
    "options",
    [
        {"layers": "all"},
        {"layers": [-1], "pooling": "mean"},
        {"layers": [0, 2]},
        {"layers": "all", "pooling": "mean_std"},
    ],
)
def test_ssl_matches_the_cached_encoder(tiny_hubert_dir, enc_corpus, options: dict[str, Any]) -> None:
    _, waves = enc_corpus
    items = [waves["u0"], waves["u1"][:8000], waves["u2"][:300]]  # different lengths, one shorter than 400
    spec = {"kind": "ssl", "model": str(tiny_hubert_dir), "chunk_s": None, **options}
    cached = build_encoder(spec)
    trainable = TrainableEncoder(cached)
    # one utterance per batch: HuBERT base's group-norm CNN sees padding (HF: such models take no attention
    # mask); layer-norm checkpoints (wav2vec2-large, the training tests' tiny models) batch exactly
    got_all = [_batch(trainable, [w])[0] for w in items]
    for b, (got, wave) in enumerate(zip(got_all, items, strict=True)):
        want = cached.encode(wave)
        np.testing.assert_allclose(_squeeze(got, want), want, atol=1e-4, err_msg=f"item {b}")


@pytest.mark.parametrize(
    "options",
    [{"layers": "all"}, {"layers": [-1], "pooling": "mean"}, {"layers": "all", "pooling": "mean_std"}],
)
def test_whisper_matches_the_cached_encoder_in_one_padded_batch(
    tiny_whisper_dir, enc_corpus, options: dict[str, Any]
) -> None:
    _, waves = enc_corpus
    # the tiny model's window is 1 s: utterances of several windows, one window, and under one frame
    items = [waves["u0"], waves["u1"][:8000], waves["u2"][:300]]
    cached = build_encoder({"kind": "whisper_hf", "model": str(tiny_whisper_dir), **options})
    trainable = TrainableEncoder(cached)
    got_all = _batch(trainable, items)  # Whisper windows are independent: batching changes nothing
    for b, (got, wave) in enumerate(zip(got_all, items, strict=True)):
        want = cached.encode(wave)
        if options == {"layers": "all"}:
            assert want.shape == (3, -(-len(wave) // 320), 32)
        elif options.get("pooling") == "mean_std":
            assert want.shape == (3, 1, 64)
        np.testing.assert_allclose(_squeeze(got, want), want, atol=1e-4, err_msg=f"item {b}")


def test_whisper_log_mel_is_the_feature_extractors(speech: np.ndarray) -> None:
    from transformers import WhisperFeatureExtractor

    from emofuse.encoders.whisper_hf import log_mel

    extractor = WhisperFeatureExtractor()  # 80 mels, 30 s windows: what released Whisper models read
    want = extractor(speech, sampling_rate=16000, return_tensors="np")["input_features"][0]  # [80, 3000]
    window = np.zeros(extractor.n_samples, dtype=np.float32)
    window[: len(speech)] = speech
    filters = torch.from_numpy(np.asarray(extractor.mel_filters, dtype=np.float32))
    got = log_mel(torch.from_numpy(window)[None], filters)[0].numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_other_encoders_cannot_run_inside_the_model() -> None:
    with pytest.raises(ConfigError, match="end_to_end"):
        TrainableEncoder(build_encoder("spectral.mfcc40"))
