"""Session fixtures of the encoder tests: a small espeak-ng corpus and tiny random transformers models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio
from emofuse.synth import espeak_available, speak

SENTENCES = [
    ("u0", "the weather is lovely today and I feel great", "en-us", 50),
    ("u1", "I can not believe you did that to me", "en-us+f3", 70),
    ("u2", "please leave the papers on the table", "en-gb", 35),
    ("u3", "we will meet again tomorrow morning", "en-us+m3", 50),
]


@pytest.fixture(scope="session")
def enc_corpus(tmp_path_factory: pytest.TempPathFactory):
    """(table, dict utterance_id -> waveform [N]) for four espeak-ng utterances with different voices."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    from emofuse.corpus.table import make_table

    root = tmp_path_factory.mktemp("enc_corpus")
    rows, waves = [], {}
    for uid, text, voice, pitch in SENTENCES:
        path = speak(text, root / f"{uid}.wav", voice=voice, pitch=pitch)
        rows.append({"utterance_id": uid, "audio_path": str(path), "transcript": text, "speaker": voice})
        waves[uid] = load_audio(path)
    return make_table(rows, corpus="espeak"), waves


@pytest.fixture(scope="session")
def speech(enc_corpus) -> np.ndarray:
    """One real utterance, float32 [N] at 16 kHz."""
    return enc_corpus[1]["u0"]


def _tiny_conv() -> dict:
    # the real 7-layer CNN front-end geometry (400-sample receptive field, 320-sample hop), narrow channels
    return {
        "conv_dim": (16,) * 7,
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
    }


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random HuBERT (2 layers, hidden 32) saved with save_pretrained; 320-sample (20 ms) frames."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **_tiny_conv()
    )
    out = tmp_path_factory.mktemp("tiny_hubert")
    HubertModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_wav2vec2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(1)
    cfg = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **_tiny_conv()
    )
    out = tmp_path_factory.mktemp("tiny_wav2vec2")
    Wav2Vec2Model(cfg).save_pretrained(out)
    return out


VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "[",
    "]",
    "sil",
    "the",
    "weather",
    "is",
    "lovely",
    "today",
    "and",
    "i",
    "feel",
    "great",
    "sad",
    "happy",
    "please",
    "leave",
    "on",
    "table",
    "##s",
]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, save_tiny_bert) -> Path:
    """A random BERT (2 layers, hidden 32) with a small wordpiece vocabulary, saved like a hub model."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), VOCAB, 32, 2)
