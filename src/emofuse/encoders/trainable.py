"""An encoder's Hugging Face model as a trainable ``nn.Module`` (``training.mode: end_to_end``).

:class:`TrainableEncoder` wraps the model of a built :class:`~emofuse.encoders.ssl.SSLEncoder`,
:class:`~emofuse.encoders.whisper_hf.WhisperHFEncoder` or :class:`~emofuse.encoders.text.TextEncoder` and computes, on a padded batch, what the cached encoder stores
per utterance, so that everything after the encoder (layer weighting, branches, fusion, head) is the same code
in both modes:

* :meth:`TrainableEncoder.prepare` turns one utterance into the model's input: a waveform ``[N]`` float32 at
  16 kHz (z-scored when the checkpoint expects it, padded to one receptive field; Whisper: as is) or token ids ``[T]`` int64
  (``[SIL]`` handled as the cached encoder does).
* :meth:`TrainableEncoder.forward` takes the padded batch ``x: [B, N]`` float (audio) or ``[B, T]`` int64 (text)
  with ``mask: [B, N] / [B, T]`` bool and returns ``(features, mask)``: ``[B, L', T', D]`` for all-layer
  outputs, ``[B, T', D]`` for one layer, with ``T' = 1`` after pooling, and the frame mask ``[B, T']``; the
  same arrays the cached encoder stores, padded as :func:`emofuse.train.collate.collate` pads them.

Long audio is encoded in one pass here (the cached encoder's ``chunk_s`` windows are for extraction only);
Whisper cuts it into its fixed windows in both modes (:func:`emofuse.encoders.whisper_hf.whisper_hidden_states`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from emofuse.encoders.base import Encoder
from emofuse.errors import ConfigError

MIN_SAMPLES = 400  # the CNN front end of SSL speech models needs one 25 ms receptive field


class TrainableEncoder(nn.Module):
    """The model of ``encoder`` (``SSLEncoder``, ``WhisperHFEncoder`` or ``TextEncoder``) as a submodule; see the module doc.

    Attributes:
        modality: ``"audio"`` or ``"text"``.
        dim: hidden size ``D``.
        n_layers_out: ``L'`` when the output is all-layer ``[B, L', T', D]``, else None.
    """

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        from emofuse.encoders.ssl import SSLEncoder
        from emofuse.encoders.text import TextEncoder
        from emofuse.encoders.whisper_hf import WhisperHFEncoder

        self.whisper = isinstance(encoder, WhisperHFEncoder)
        self.min_samples = 0 if self.whisper else MIN_SAMPLES
        if isinstance(encoder, SSLEncoder):  # WhisperHFEncoder is one
            self.modality = "audio"
            self.layer_indices = list(encoder.layer_indices)
            self.normalize = bool(encoder._normalize)
            if self.whisper:
                self.register_buffer("mel_filters", encoder.mel_filters.clone(), persistent=False)
        elif isinstance(encoder, TextEncoder):
            self.modality = "text"
            self.tokenizer = encoder.tokenizer
            self.sil_id = encoder.sil_id
            self._prepare_text = encoder._prepare
            special = set(encoder.tokenizer.all_special_ids) - (
                {encoder.sil_id} if encoder.sil_id is not None else set()
            )
            self.register_buffer(
                "special_ids", torch.tensor(sorted(special), dtype=torch.long), persistent=False
            )
        else:
            raise ConfigError(
                f"encoder {encoder.encoder_id} ({type(encoder).__name__}) cannot run inside the model; "
                "end_to_end mode trains ssl, whisper_hf and text encoders"
            )
        self.config = encoder.config
        self.encoder_id = encoder.encoder_id
        self.model = encoder.model
        self.dim = int(encoder.dim)
        self.n_layers_out: int | None = self._n_layers_out(encoder)

    def _n_layers_out(self, encoder: Encoder) -> int | None:
        if encoder.output != "layers":
            return None
        if self.modality == "audio":
            return len(self.layer_indices)
        return int(self.model.config.num_hidden_layers) + 1

    # -----------------------------------------------------------------------------------------------------
    def prepare(self, item: np.ndarray | str) -> np.ndarray:
        """One utterance -> the model's input: waveform ``[N]`` float32 or token ids ``[T]`` int64."""
        if self.modality == "text":
            enc = self.tokenizer(self._prepare_text(item), truncation=True, max_length=self.config.max_tokens)
            return np.asarray(enc["input_ids"], dtype=np.int64)
        wave = np.asarray(item, dtype=np.float32)
        if self.normalize:
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        if wave.shape[0] < self.min_samples:
            wave = np.pad(wave, (0, self.min_samples - wave.shape[0]))
        return np.ascontiguousarray(wave, dtype=np.float32)

    @staticmethod
    def pad(arrays: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Pad prepared inputs into ``x: [B, N]`` (zeros) and ``mask: [B, N]`` bool (True = real)."""
        n_max = max(max(a.shape[0] for a in arrays), 1)
        x = np.zeros((len(arrays), n_max), dtype=arrays[0].dtype)
        mask = np.zeros((len(arrays), n_max), dtype=bool)
        for b, a in enumerate(arrays):
            x[b, : a.shape[0]] = a
            mask[b, : a.shape[0]] = True
        return torch.from_numpy(x), torch.from_numpy(mask)

    # -----------------------------------------------------------------------------------------------------
    def transformer_layers(self) -> nn.ModuleList:
        """The model's transformer layers (BERT: ``encoder.layer``; wav2vec2/HuBERT/WavLM: ``encoder.layers``;
        a Whisper encoder: ``layers``)."""
        enc = getattr(self.model, "encoder", self.model)
        layers = getattr(enc, "layer", None) or getattr(enc, "layers", None)
        if layers is None:
            raise ConfigError(f"{type(self.model).__name__} has no encoder.layer(s) to freeze")
        return layers

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``x: [B, N]`` / ``[B, T]`` and ``mask`` -> ``(features [B, L', T', D] or [B, T', D], mask [B, T'])``."""
        if self.modality == "text":
            return self._forward_text(x, mask)
        return self._forward_audio(x, mask)

    def _forward_audio(self, wave: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.whisper:
            from emofuse.encoders.whisper_hf import whisper_hidden_states

            states, frames = whisper_hidden_states(
                self.model, self.mel_filters, wave, mask.sum(dim=1), self.layer_indices
            )
        else:
            out = self.model(wave, attention_mask=mask.long(), output_hidden_states=True)
            states = torch.stack([out.hidden_states[i] for i in self.layer_indices], dim=1)  # [B, L', T, D]
            lengths = self.model._get_feat_extract_output_lengths(mask.sum(dim=1))
            frames = torch.arange(states.shape[2], device=states.device)[None, :] < lengths[:, None]
        if self.config.pooling == "mean":
            states, frames = _masked_mean(states, frames)
        elif self.config.pooling == "mean_std":
            states, frames = _masked_mean_std(states, frames)
        if len(self.layer_indices) == 1:
            states = states[:, 0]
        return states, frames

    def _forward_text(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        cfg = self.config
        hidden = self.model(
            input_ids=ids, attention_mask=mask.long(), output_hidden_states=True
        ).hidden_states
        states = torch.stack(hidden, dim=1)  # [B, L, T, D]
        if cfg.layers == "last":
            states = states[:, -1:]
        elif cfg.layers == "sum_last4":
            states = states[:, -4:].sum(dim=1, keepdim=True)
        keep = mask.clone()
        if cfg.special_tokens == "drop":
            keep &= ~torch.isin(ids, self.special_ids)
            empty = ~keep.any(dim=1)
            keep[empty, 0] = True  # an empty text keeps [CLS], as the cached encoder does
        if cfg.pooling == "cls":
            states = states[:, :, :1]
            keep = torch.ones(states.shape[0], 1, dtype=torch.bool, device=states.device)
        elif cfg.pooling == "mean":
            states, keep = _masked_mean(states, keep)
        elif cfg.special_tokens == "drop":
            # move the kept tokens to the front (stable), as the cached encoder stores only those
            order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
            states = torch.gather(states, 2, order[:, None, :, None].expand_as(states))
            keep = torch.gather(keep, 1, order)
            t_max = int(keep.sum(dim=1).max())
            states, keep = states[:, :, :t_max], keep[:, :t_max]
        if cfg.layers != "all":
            states = states[:, 0]
        return states, keep

    def save(self, directory: Any) -> None:
        """Write the (fine-tuned) model, and a text model's tokenizer, with ``save_pretrained`` (safetensors)."""
        self.model.save_pretrained(str(directory), safe_serialization=True)
        if self.modality == "text":
            self.tokenizer.save_pretrained(str(directory))


def _masked_mean(states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``states [B, L, T, D]``, ``mask [B, T]`` -> the mean over real frames ``[B, L, 1, D]`` and mask ``[B, 1]``."""
    weights = mask.to(states.dtype)[:, None, :, None]
    mean = (states * weights).sum(dim=2, keepdim=True) / weights.sum(dim=2, keepdim=True).clamp_min(1.0)
    return mean, torch.ones(states.shape[0], 1, dtype=torch.bool, device=states.device)


def _masked_mean_std(states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``states [B, L, T, D]``, ``mask [B, T]`` -> mean and (population) standard deviation over real frames,
    concatenated ``[B, L, 1, 2 D]`` (as the cached ``pooling: mean_std`` stores), and mask ``[B, 1]``."""
    mean, pooled_mask = _masked_mean(states, mask)
    weights = mask.to(states.dtype)[:, None, :, None]
    var = ((states - mean) ** 2 * weights).sum(dim=2, keepdim=True) / weights.sum(
        dim=2, keepdim=True
    ).clamp_min(1.0)
    return torch.cat([mean, var.clamp_min(0.0).sqrt()], dim=-1), pooled_mask


__all__ = ["TrainableEncoder"]
