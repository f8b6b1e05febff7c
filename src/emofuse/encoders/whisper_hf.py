"""Whisper's encoder through transformers: every hidden state, trainable in ``training.mode: end_to_end``.

The model is named by a Hugging Face id or a local directory holding a ``WhisperModel``,
``WhisperForConditionalGeneration`` or (a fine-tuned run's ``encoders/<branch>/``) a ``WhisperEncoder`` saved with
``save_pretrained``; only the encoder is kept. Whisper (Radford et al., "Robust Speech Recognition via
Large-Scale Weak Supervision", ICML 2023, arXiv:2212.04356) reads a log-mel spectrogram of a fixed window
(``2 * max_source_positions`` mel frames of 10 ms: 30 s for the released models). Audio is cut into such
windows (the last zero-padded, as Whisper does), each window's log-mel is computed in torch exactly as
transformers' ``WhisperFeatureExtractor`` does, and the windows' hidden states are concatenated in time. Frames
are 20 ms; ``T = ceil(N / 320)`` frames cover real audio.

:func:`whisper_hidden_states` is the one computation, on a padded batch, used both by the cached encoder (one
utterance at a time) and by :class:`~emofuse.encoders.trainable.TrainableEncoder` (inside the model), so the
two modes give the same features. Shapes (``layers``, ``pooling``) are those of the ``ssl`` kind:
``[L', T, D]``, ``[L', 1, D]`` (mean), ``[T, D]`` / ``[D]`` for one layer; ``mean_std`` doubles ``D``.

The offline tiny.en of ``whisper`` / ``whisper_layers`` is a CTranslate2 model and cannot train; use this kind
with a transformers checkpoint (e.g. ``openai/whisper-tiny`` once downloaded, or its local directory).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import field_validator

from emofuse.encoders.base import EncoderConfig
from emofuse.encoders.hf import load_pretrained
from emofuse.encoders.ssl import SSLEncoder, pool_layers
from emofuse.errors import ConfigError, ModelLoadError

N_FFT = 400  # 25 ms at 16 kHz
HOP_SAMPLES = 160  # one mel frame: 10 ms
SAMPLES_PER_FRAME = 320  # one encoder frame: 20 ms (the second conv has stride 2)


class WhisperHFConfig(EncoderConfig):
    """Config of :class:`WhisperHFEncoder`. ``model``: a Hugging Face id or a local directory."""

    kind: Literal["whisper_hf"] = "whisper_hf"
    model: str
    layers: Literal["all"] | list[int] = "all"
    pooling: Literal["none", "mean", "mean_std"] = "none"

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("layers: give 'all' or a non-empty list of hidden-state indices")
        return value


def window_samples(model: Any) -> int:
    """Samples of one Whisper input window (``2 * max_source_positions`` mel frames; 480000 = 30 s)."""
    return int(model.config.max_source_positions) * 2 * HOP_SAMPLES


def log_mel(windows: Any, filters: Any) -> Any:
    """Whisper's log-mel: ``windows [W, S]`` float at 16 kHz, ``filters [F, M]`` -> ``[W, M, S // 160]``.

    As transformers' ``WhisperFeatureExtractor`` (its torch path): power STFT without the last frame, mel
    filter bank, log10, clamped to 8 below each window's maximum, then ``(x + 4) / 4``.
    """
    import torch

    windows = windows.float()
    hann = torch.hann_window(N_FFT, device=windows.device)
    with torch.autocast(windows.device.type, enabled=False):  # float32 under mixed precision too
        stft = torch.stft(windows, N_FFT, HOP_SAMPLES, window=hann, return_complex=True)
        power = stft[..., :-1].abs() ** 2  # [W, F, S // 160]
        mel = filters.float().T @ power  # [W, M, S // 160]
    log = torch.clamp(mel, min=1e-10).log10()
    log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (log + 4.0) / 4.0


def whisper_hidden_states(
    model: Any, filters: Any, wave: Any, n_samples: Any, layer_indices: list[int]
) -> tuple[Any, Any]:
    """Hidden states of a padded batch.

    Args:
        model: a transformers ``WhisperEncoder``. filters: mel filters ``[F, M]``.
        wave: ``[B, N]`` float at 16 kHz (zeros after each utterance's end). n_samples: ``[B]`` real lengths.
        layer_indices: which of the ``L + 1`` hidden states to keep (``L'`` of them).

    Returns:
        ``(states [B, L', T, D], frames [B, T] bool)`` with ``T = max ceil(n_samples / 320)``.
    """
    import torch
    from torch.nn import functional as F

    size = window_samples(model)
    batch, n = wave.shape
    n_windows = max(1, math.ceil(n / size))
    windows = F.pad(wave, (0, n_windows * size - n)).reshape(batch * n_windows, size)
    hidden = model(log_mel(windows, filters), output_hidden_states=True).hidden_states
    states = torch.stack([hidden[i] for i in layer_indices], dim=1)  # [B W, L', M, D]
    _, n_layers, frames_per_window, dim = states.shape
    states = states.reshape(batch, n_windows, n_layers, frames_per_window, dim).transpose(1, 2)
    states = states.reshape(batch, n_layers, n_windows * frames_per_window, dim)
    lengths = torch.div(n_samples + SAMPLES_PER_FRAME - 1, SAMPLES_PER_FRAME, rounding_mode="floor")
    lengths = lengths.clamp_min(1)
    t_max = int(lengths.max())
    frames = torch.arange(t_max, device=states.device)[None, :] < lengths[:, None]
    return states[:, :, :t_max], frames


def load_whisper_encoder(name: str) -> Any:
    """The ``WhisperEncoder`` of a Whisper checkpoint (full model, or an encoder saved alone)."""
    import transformers
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = load_pretrained(transformers.AutoConfig, name, "Whisper model")
    if getattr(config, "model_type", None) != "whisper":
        raise ModelLoadError(
            f"'{name}' holds a {getattr(config, 'model_type', '?')} model, not Whisper; "
            "the whisper_hf encoder needs a Whisper checkpoint"
        )
    if "WhisperEncoder" in (config.architectures or []):
        return load_pretrained(WhisperEncoder, name, "Whisper encoder")
    return load_pretrained(transformers.WhisperModel, name, "Whisper model").get_encoder()


class WhisperHFEncoder(SSLEncoder):
    """Whisper encoder hidden states through transformers; layer selection, pooling and ids as ``ssl``."""

    modality = "audio"

    def __init__(self, config: WhisperHFConfig) -> None:  # noqa: D107 - see the class doc
        super(SSLEncoder, self).__init__(config)
        self.config: WhisperHFConfig = config  # type: ignore[assignment]
        import torch
        from transformers import WhisperFeatureExtractor

        self._torch = torch
        self.model = load_whisper_encoder(config.model)
        self.model.eval()
        self.n_hidden_states = int(self.model.config.encoder_layers) + 1
        if isinstance(config.layers, list):
            bad = [i for i in config.layers if not -self.n_hidden_states <= i < self.n_hidden_states]
            if bad:
                raise ConfigError(
                    f"whisper_hf layers {bad} out of range: {config.model} has {self.n_hidden_states} "
                    "hidden states"
                )
        self._hidden = int(self.model.config.d_model)
        self._normalize = False
        features = WhisperFeatureExtractor(feature_size=int(self.model.config.num_mel_bins))
        self.mel_filters = torch.from_numpy(np.asarray(features.mel_filters, dtype=np.float32))  # [F, M]

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` at 16 kHz -> ``[L', T, D]`` / ``[L', 1, D]`` / ``[T, D]`` / ``[D]``, ``T = ceil(N / 320)``."""
        torch = self._torch
        wave = torch.from_numpy(np.ascontiguousarray(item, dtype=np.float32))[None]
        with torch.inference_mode():
            states, _ = whisper_hidden_states(
                self.model, self.mel_filters, wave, torch.tensor([wave.shape[1]]), self.layer_indices
            )
        return pool_layers(states[0].float().numpy(), self.config.pooling)


__all__ = ["WhisperHFConfig", "WhisperHFEncoder", "load_whisper_encoder", "log_mel", "whisper_hidden_states"]
