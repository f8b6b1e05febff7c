"""Voice activity with silero-vad: the share of non-speech frames in a recording.

This is the utterance silence feature of Atmaja & Akagi (2020), which perez2022 section 4.2 follows: the portion
of silence frames in an utterance, here with silero-vad deciding per 32 ms frame (512 samples at 16 kHz) whether
it holds speech. Audio is read with soundfile / :mod:`emofuse.audio`, never torchaudio (it has no CPU build here).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
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


#: recordings whose frames silero-vad runs side by side in one pass (a batch row per recording; memory is
#: ``VAD_BATCH * longest`` samples, and recordings are grouped by length so little of it is padding)
VAD_BATCH = 32


def speech_probabilities(wave: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per-frame speech probability of a waveform ``[N]``: returns ``[ceil(N16 / 512)]`` (32 ms frames at 16 kHz)."""
    return speech_probabilities_many([wave], sample_rate_hz)[0]


def speech_probabilities_many(waves: Sequence[np.ndarray], sample_rate_hz: int) -> list[np.ndarray]:
    """:func:`speech_probabilities` of several waveforms ``[N_i]``, in batched passes: one array ``[F_i]`` each.

    silero-vad is causal (each 32 ms frame sees its context and the recurrent state of the frames before it), so
    the zeros that pad a shorter recording to its batch's longest come after its frames and do not change them;
    the batch changes only float rounding (below 1e-4). The model runs on one torch thread: its matrices are
    tiny, and a second thread only spins (on 2 loaded cores, 25x slower than one).
    """
    import torch

    audios = [prepare_wave(w, sample_rate_hz) for w in waves]
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32) for _ in audios]
    order = sorted((i for i, a in enumerate(audios) if a.size), key=lambda i: audios[i].size)
    if not order:
        return out
    model = load_vad_model()
    with _VAD_LOCK, torch.no_grad(), _one_torch_thread():
        for first in range(0, len(order), VAD_BATCH):
            group = order[first : first + VAD_BATCH]
            # silero-vad refuses a chunk under one window ("too short"): pad to at least one
            frames = [-(-audios[i].size // VAD_FRAME_SAMPLES) for i in group]
            batch = np.zeros((len(group), max(frames) * VAD_FRAME_SAMPLES), dtype=np.float32)
            for row, i in enumerate(group):
                batch[row, : audios[i].size] = audios[i]
            try:
                probs = model.audio_forward(torch.from_numpy(batch), MODEL_SAMPLE_RATE_HZ).numpy()
            finally:
                model.reset_states()
            for row, (i, n) in enumerate(zip(group, frames, strict=True)):
                out[i] = probs[row, :n].astype(np.float32)
    return out


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def vad_silence_ratio(
    wave: np.ndarray, sample_rate_hz: int, threshold: float = DEFAULT_SPEECH_THRESHOLD
) -> float:
    """Non-speech frames / frames in ``[0, 1]``; empty audio counts as all silence (1.0)."""
    probs = speech_probabilities(wave, sample_rate_hz)
    if probs.size == 0:
        return 1.0
    return float(np.mean(probs < threshold))
