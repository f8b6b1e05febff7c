"""Utterance silence ratio: perez2022's global silence feature (Sec. 4.2), after Atmaja & Akagi (2020).

perez2022 computes "an utterance-level silence feature following the work of Atmaja et. al. [5], which is the
portion of silence in the utterance" and concatenates it to BERT's CLS vector before the head. This encoder
gives that number from the audio, as a pooled ``[D]`` float32 vector:

* ``method: "vad"`` (default) -> ``[1]``: non-speech frames / frames, with silero-vad deciding per 32 ms
  frame (512 samples at 16 kHz, fixed by the model) whether the speech probability reaches ``threshold``.
  This reuses :func:`emofuse.transcribe.vad.speech_probabilities` (the same numbers as the transcripts
  table's ``vad_silence_ratio`` at the same threshold); there is no second VAD here.
* ``method: "energy"`` -> ``[1]``: Atmaja & Akagi's own frame rule: a frame of ``frame_ms`` (non-overlapping)
  is silent when its RMS is below ``energy_factor`` x the utterance's mean frame RMS, or below the absolute
  floor ``floor_dbfs`` (so digital silence is all silent).
* ``method: "vad+energy"`` -> ``[2]``: ``[vad ratio, energy ratio]`` in that order (:attr:`feature_names`).

Every ratio is in ``[0, 1]``; an empty or all-zero recording is 1.0 (all silence).

The word-gap ratio (perez2022's own definition: "unvoiced segments between word boundaries provided by
ASR") needs word timings, i.e. ASR; an encoder never runs ASR. It is the ``silence_ratio`` column of the
transcripts table written by ``emofuse transcribe`` (:func:`emofuse.transcribe.silence.silence_ratio`);
this encoder's ``vad`` ratio is the audio-only stand-in that ``emofuse extract`` can compute from the
recording alone.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import AudioError

_VAD_LOCK = threading.Lock()  # silero-vad is one stateful TorchScript module per process
_METHODS: dict[str, tuple[str, ...]] = {
    "vad": ("vad_silence_ratio",),
    "energy": ("energy_silence_ratio",),
    "vad+energy": ("vad_silence_ratio", "energy_silence_ratio"),
}


class SilenceRatioConfig(EncoderConfig):
    """Config of :class:`SilenceRatioEncoder` (see the module doc).

    ``threshold``: silero-vad speech probability at or above which a 32 ms frame is speech (silero's default 0.5).
    ``frame_ms``: frame length of the energy rule in milliseconds (non-overlapping frames).
    ``energy_factor``: an energy frame is silent when its RMS < ``energy_factor`` x mean frame RMS.
    ``floor_dbfs``: frames quieter than this (RMS in dB relative to full scale 1.0) are always silent.
    """

    kind: Literal["silence_ratio"] = "silence_ratio"
    method: Literal["vad", "energy", "vad+energy"] = "vad"
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    frame_ms: float = Field(default=32.0, ge=5.0, le=500.0)
    energy_factor: float = Field(default=0.3, gt=0.0, lt=1.0)
    floor_dbfs: float = Field(default=-60.0, le=0.0)


def vad_ratio(wave: np.ndarray, sample_rate_hz: int, threshold: float) -> float:
    """silero-vad non-speech frames / frames of a waveform ``[N]``, in ``[0, 1]`` (1.0 for empty audio)."""
    from emofuse.transcribe.vad import speech_probabilities

    with _VAD_LOCK:
        probs = speech_probabilities(wave, sample_rate_hz)
    if probs.size == 0:
        return 1.0
    return float(np.mean(probs < threshold))


def energy_ratio(
    wave: np.ndarray, sample_rate_hz: int, frame_ms: float, energy_factor: float, floor_dbfs: float
) -> float:
    """Silent frames / frames of a waveform ``[N]`` by the RMS rule (see the module doc), in ``[0, 1]``."""
    frame = max(1, int(round(sample_rate_hz * frame_ms / 1000.0)))
    n_frames = int(np.ceil(len(wave) / frame))
    if n_frames == 0:
        return 1.0
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[: len(wave)] = wave
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))  # [F]
    floor = 10.0 ** (floor_dbfs / 20.0)
    silent = (rms < energy_factor * rms.mean()) | (rms < floor)
    return float(np.mean(silent))


class SilenceRatioEncoder(Encoder):
    """Pooled utterance silence ratio(s) ``[D]`` (D = 1, or 2 for ``vad+energy``) from a 16 kHz waveform ``[N]``."""

    modality: ClassVar[Literal["audio"]] = "audio"
    output: ClassVar[Literal["pooled"]] = "pooled"
    code_version: ClassVar[str] = "1"

    config: SilenceRatioConfig

    def __init__(self, config: SilenceRatioConfig) -> None:
        super().__init__(config)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the output dimensions, in order."""
        return _METHODS[self.config.method]

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Silence ratio(s) of one waveform ``[N]`` at 16 kHz: float32 ``[D]`` in ``[0, 1]``."""
        wave = np.asarray(item, dtype=np.float32)
        if wave.ndim != 1:
            raise AudioError(f"the silence_ratio encoder needs a mono waveform [N]; got shape {wave.shape}")
        if not np.all(np.isfinite(wave)):
            raise AudioError("the silence_ratio encoder got a waveform with NaN or infinite samples")
        cfg = self.config
        values = []
        for name in self.feature_names:
            if name == "vad_silence_ratio":
                values.append(vad_ratio(wave, self.sample_rate_hz, cfg.threshold))
            else:
                values.append(
                    energy_ratio(wave, self.sample_rate_hz, cfg.frame_ms, cfg.energy_factor, cfg.floor_dbfs)
                )
        return np.asarray(values, dtype=np.float32)
