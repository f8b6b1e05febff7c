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
