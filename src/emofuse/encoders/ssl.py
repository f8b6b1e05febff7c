"""Self-supervised speech models (wav2vec2, HuBERT, DistilHuBERT, WavLM) through ``transformers.AutoModel``.

The model is named by a Hugging Face id or a local directory (``from_pretrained``). With
``output_hidden_states=True`` the model returns ``L + 1`` hidden states: the CNN feature encoder's projected
output and each transformer layer (makiuchi2021 uses all 25 of wav2vec2-large; deoliveira2023 learns weights
over them). Frames are 20 ms (320 samples at 16 kHz).

Output shapes (``layers``, ``pooling``):

* ``"all"`` or a list of 2+ indices, ``"none"``: ``[L', T, D]`` (kind ``layers``)
* ``"all"`` or a list of 2+ indices, ``"mean"``: ``[L', 1, D]`` (kind ``layers``, time-averaged)
* one index ``[k]``, ``"none"``: ``[T, D]`` (kind ``frames``); ``"mean"``: ``[D]`` (kind ``pooled``)
* ``"mean_std"``: as ``"mean"`` with the standard deviation over time appended, ``D -> 2 D`` (the pooled
  input of emofuse's own recipes, ``recipes/emofuse/``)

Long audio is processed in windows of ``chunk_s`` seconds (default 30 s) whose hidden states are concatenated
in time, bounding memory; set ``chunk_s: null`` for one pass.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import field_validator

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.encoders.hf import fingerprinted_id, load_pretrained
from emofuse.errors import ConfigError

SAMPLES_PER_FRAME = 320


class SSLConfig(EncoderConfig):
    """Config of :class:`SSLEncoder`. ``model``: a Hugging Face id or a local directory."""

    kind: Literal["ssl"] = "ssl"
    model: str
    layers: Literal["all"] | list[int] = "all"
    pooling: Literal["none", "mean", "mean_std"] = "none"
    chunk_s: float | None = 30.0
    normalize_waveform: bool | None = None

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("layers: give 'all' or a non-empty list of hidden-state indices")
        return value


class SSLEncoder(Encoder):
    """Hidden states of a frozen SSL speech model; see the module doc for shapes."""

    modality = "audio"

    def __init__(self, config: SSLConfig) -> None:
        super().__init__(config)
        self.config: SSLConfig = config
        import torch
        import transformers

        self._torch = torch
        self.model = load_pretrained(transformers.AutoModel, config.model, "speech model")
        self.model.eval()
        n_hidden = int(getattr(self.model.config, "num_hidden_layers", 0)) + 1
        self.n_hidden_states = n_hidden
        if isinstance(config.layers, list):
            bad = [i for i in config.layers if not -n_hidden <= i < n_hidden]
            if bad:
                raise ConfigError(
                    f"ssl layers {bad} out of range: {config.model} has {n_hidden} hidden states"
                )
        self._hidden = int(self.model.config.hidden_size)
        if config.normalize_waveform is None:
            # wav2vec2-base checkpoints expect raw audio; large/LV-60, HuBERT-large and WavLM expect z-scored input.
            self._normalize = bool(getattr(self.model.config, "feat_extract_norm", "group") == "layer")
        else:
            self._normalize = config.normalize_waveform

    @classmethod
    def id_for(cls, config: EncoderConfig) -> str:
        """Config, code version and a fingerprint of the local model directory (no model is loaded)."""
        return fingerprinted_id(config, cls.code_version, config.model)  # type: ignore[attr-defined]

    @property
    def layer_indices(self) -> list[int]:
        if self.config.layers == "all":
            return list(range(self.n_hidden_states))
        return [i % self.n_hidden_states for i in self.config.layers]

    @property
    def output(self) -> str:  # type: ignore[override]
        if len(self.layer_indices) > 1:
            return "layers"
        return "frames" if self.config.pooling == "none" else "pooled"

    @property
    def dim(self) -> int:
        return 2 * self._hidden if self.config.pooling == "mean_std" else self._hidden

    def _forward(self, wave: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self._normalize:
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        min_len = 400  # the CNN front-end needs at least one 25 ms receptive field
        if wave.shape[0] < min_len:
            wave = np.pad(wave, (0, min_len - wave.shape[0]))
        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(wave))[None], output_hidden_states=True)
        states = out.hidden_states
        return np.stack([states[i][0].float().numpy() for i in self.layer_indices])  # [L', T, D]

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` at 16 kHz -> ``[L', T, D]`` / ``[L', 1, D]`` / ``[T, D]`` / ``[D]``, ``T ~ N / 320``."""
        wave = np.asarray(item, dtype=np.float32)
        chunk = int(self.config.chunk_s * self.sample_rate_hz) if self.config.chunk_s else 0
        if chunk and wave.shape[0] > chunk:
            # windows start every `chunk` samples (a multiple of 320) and overlap by 80 samples, so each full
            # window yields exactly chunk / 320 frames and the frames line up with a single pass; a tail
            # shorter than one receptive field joins the previous window.
            chunk = max(SAMPLES_PER_FRAME, chunk - chunk % SAMPLES_PER_FRAME)
            starts = list(range(0, wave.shape[0], chunk))
            if len(starts) > 1 and wave.shape[0] - starts[-1] < 400:
                starts.pop()
            parts = []
            for j, s in enumerate(starts):
                stop = starts[j + 1] + 80 if j + 1 < len(starts) else wave.shape[0]
                parts.append(self._forward(wave[s:stop]))
            hidden = np.concatenate(parts, axis=1)
        else:
            hidden = self._forward(wave)
        return pool_layers(hidden, self.config.pooling)


def pool_layers(hidden: np.ndarray, pooling: str) -> np.ndarray:
    """``[L', T, D]`` hidden states -> what the encoder stores: ``[L', T, D]`` / ``[L', 1, D]`` (mean) /
    ``[L', 1, 2 D]`` (mean_std); one layer drops ``L'`` (``[T, D]``, pooled ``[D]``)."""
    if pooling == "mean":
        hidden = hidden.mean(axis=1, keepdims=True)
    elif pooling == "mean_std":
        hidden = np.concatenate([hidden.mean(axis=1), hidden.std(axis=1)], axis=-1)[:, None, :]
    if hidden.shape[0] == 1:
        hidden = hidden[0]
        if pooling != "none":
            hidden = hidden[0]
    return np.ascontiguousarray(hidden, dtype=np.float32)
