"""Shared test fixtures. Real speech comes from espeak-ng through :func:`emofuse.synth.speak`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import write_wav
from emofuse.synth import espeak_available, speak

# Tests never reach a model hub: everything they load is local (packaged weights or tiny models in tmp).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Caches (transcripts, features) go to a fresh folder per test session, never the user's ~/.cache.
os.environ.setdefault("EMOFUSE_CACHE_DIR", tempfile.mkdtemp(prefix="emofuse-test-cache-"))

requires_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    """A short real utterance at 16 kHz."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return speak("the weather is lovely today and I feel great", tmp_path / "speech.wav")


@pytest.fixture
def silent_wav(tmp_path: Path) -> Path:
    """Two seconds of digital silence at 16 kHz."""
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros(16_000 * 2, dtype=np.float32), 16_000)
    return path


def _save_tiny_whisper(out: Path, seed: int = 2) -> Path:
    """A random WhisperModel (2 encoder layers, d_model 32, 50 positions = 1 s windows) saved with save_pretrained."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(seed)
    cfg = WhisperConfig(
        d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50, max_target_positions=16,
        vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    WhisperModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random WhisperModel directory (the real transformers class; Whisper's encoder through transformers)."""
    return _save_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))
