"""Voice activity with silero-vad: the share of non-speech frames in a recording.

This is the utterance silence feature of Atmaja & Akagi (2020), which perez2022 section 4.2 follows: the portion
of silence frames in an utterance, here with silero-vad deciding per 32 ms frame (512 samples at 16 kHz) whether
it holds speech. Audio is read with soundfile / :mod:`emofuse.audio`, never torchaudio (it has no CPU build here).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

from emofuse.errors import ModelLoadError
from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ, prepare_wave

VAD_FRAME_SAMPLES = 512  # silero-vad's window at 16 kHz (32 ms)
DEFAULT_SPEECH_THRESHOLD = 0.5  # silero-vad's own default
# The one silero-vad model of a process is stateful (``audio_forward`` carries its recurrent state and context
# across windows until ``reset_states``): two threads inside it at once corrupt that state and crashed the
# service with a segmentation fault under concurrent requests. Every call goes through this lock.
_VAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def load_vad_model() -> Any:
    """Load the silero-vad (TorchScript) model once per process."""
    try:
        from silero_vad import load_silero_vad

        return load_silero_vad()
    except Exception as exc:
        raise ModelLoadError(f"cannot load silero-vad: {exc}; `pip install silero-vad`") from exc


def speech_probabilities(wave: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per-frame speech probability of a waveform ``[N]``: returns ``[ceil(N16 / 512)]`` (32 ms frames at 16 kHz)."""
    import torch

    audio = prepare_wave(wave, sample_rate_hz)
    if audio.size == 0:
        return np.zeros(0, dtype=np.float32)
    if audio.size < VAD_FRAME_SAMPLES:  # silero-vad refuses a chunk under one window ("too short"): pad it
        audio = np.pad(audio, (0, VAD_FRAME_SAMPLES - audio.size))
    model = load_vad_model()
    with _VAD_LOCK, torch.no_grad():
        try:
            probs = model.audio_forward(torch.from_numpy(np.ascontiguousarray(audio)), MODEL_SAMPLE_RATE_HZ)
        finally:
            model.reset_states()
    return probs.reshape(-1).numpy().astype(np.float32)


def vad_silence_ratio(
    wave: np.ndarray, sample_rate_hz: int, threshold: float = DEFAULT_SPEECH_THRESHOLD
) -> float:
    """Non-speech frames / frames in ``[0, 1]``; empty audio counts as all silence (1.0)."""
    probs = speech_probabilities(wave, sample_rate_hz)
    if probs.size == 0:
        return 1.0
    return float(np.mean(probs < threshold))
