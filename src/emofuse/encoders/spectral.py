"""Spectral frame features with librosa: mel spectrogram, MFCC, chroma (kumar2021) and 80-bin log-mel (makiuchi2021).

Every feature is a frame sequence ``[T, D]`` (never time-averaged), ``T = 1 + N // hop`` (centred frames).
Presets (the spec strings ``spectral.<preset>``):

=========  ===  ================================  ===========  ========  ============================
preset     D    what                               window       hop       paper
=========  ===  ================================  ===========  ========  ============================
mel128     128  mel power spectrogram in dB        25 ms (400)  10 ms     kumar2021 (mel-spectrogram)
mfcc40     40   MFCC from a 128-band log-mel       25 ms        10 ms     kumar2021
chroma12   12   chroma STFT (pitch classes)        25 ms, 2048  10 ms     kumar2021
                                                   -point FFT
logmel80   80   log10 mel magnitude, 90-7600 Hz    64 ms (1024) 20 ms     makiuchi2021 (AutoVC-style
                                                                          target, one frame per
                                                                          wav2vec2 frame)
=========  ===  ================================  ===========  ========  ============================

kumar2021 names only the dimensions; the window/hop are emofuse's choice (speech-standard 25 ms / 10 ms) and
are part of the config, so a different choice is a different encoder id.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError


class SpectralConfig(EncoderConfig):
    """Config of :class:`SpectralEncoder`; see the module table for the presets."""

    kind: Literal["spectral"] = "spectral"
    feature: Literal["mel", "mfcc", "chroma", "logmel"] = "mel"
    n_bins: int = 128
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    n_mels_for_mfcc: int = 128


PRESETS: dict[str, dict[str, object]] = {
    "mel128": {"feature": "mel", "n_bins": 128},
    "mfcc40": {"feature": "mfcc", "n_bins": 40},
    "chroma12": {"feature": "chroma", "n_bins": 12, "n_fft": 2048},
    "logmel80": {
        "feature": "logmel",
        "n_bins": 80,
        "window_ms": 64.0,
        "hop_ms": 20.0,
        "n_fft": 1024,
        "fmin_hz": 90.0,
        "fmax_hz": 7600.0,
    },
}


class SpectralEncoder(Encoder):
    """librosa features of a 16 kHz waveform ``[N]`` -> float32 ``[T, n_bins]``."""

    modality = "audio"
    output = "frames"

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__(config)
        self.config: SpectralConfig = config
        win = self.win_length
        if win > config.n_fft:
            raise ConfigError(
                f"spectral: window_ms={config.window_ms} ({win} samples) exceeds n_fft={config.n_fft}"
            )
        if self.hop_length < 1:
            raise ConfigError(f"spectral: hop_ms={config.hop_ms} is too small")
        if config.feature == "chroma" and config.n_bins != 12:
            raise ConfigError("spectral: chroma has n_bins=12")

    @property
    def win_length(self) -> int:
        return int(round(self.config.window_ms * self.sample_rate_hz / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.config.hop_ms * self.sample_rate_hz / 1000))

    @property
    def dim(self) -> int:
        return self.config.n_bins

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` -> ``[T, n_bins]`` with ``T = 1 + N // hop_length``."""
        import librosa

        c = self.config
        y = np.asarray(item, dtype=np.float32)
        sr = self.sample_rate_hz
        stft = {"n_fft": c.n_fft, "hop_length": self.hop_length, "win_length": self.win_length}
        if c.feature == "mel":
            mel = librosa.feature.melspectrogram(
                y=y, sr=sr, n_mels=c.n_bins, fmin=c.fmin_hz, fmax=c.fmax_hz, **stft
            )
            out = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        elif c.feature == "mfcc":
            mel = librosa.feature.melspectrogram(
                y=y, sr=sr, n_mels=c.n_mels_for_mfcc, fmin=c.fmin_hz, fmax=c.fmax_hz, **stft
            )
            out = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=c.n_bins)
        elif c.feature == "chroma":
            out = librosa.feature.chroma_stft(y=y, sr=sr, **stft)
        else:
            mag = librosa.feature.melspectrogram(
                y=y, sr=sr, n_mels=c.n_bins, fmin=c.fmin_hz, fmax=c.fmax_hz, power=1.0, **stft
            )
            out = np.log10(np.maximum(mag, 1e-5))
        return np.ascontiguousarray(out.T, dtype=np.float32)
