"""``training.mode: end_to_end``: the encoders of ``ssl`` / ``text`` branches run (and train) inside the model.

One model in both modes: :class:`EndToEndModel` puts :class:`~emofuse.encoders.trainable.TrainableEncoder`
modules in front of the same :class:`emofuse.nn.FusionModel` that cached mode trains; each encoder turns its
branch's padded waveforms ``[B, N]`` / token ids ``[B, T]`` into the features ``[B, (L,) T', D]`` the store
would hold, and the fusion model does the rest. Branches of other encoder kinds (openSMILE, spectral,
silence, ...) stay cached and read the store.

* :func:`end_to_end_branches`: the branches whose encoder runs inside the model.
* :class:`EndToEndDataset`: items carry the cached branches' arrays and the others' prepared inputs;
  :meth:`EndToEndDataset.collate` pads them (masks True = real); :meth:`EndToEndDataset.length_batches`
  its ``lengths()`` feed :class:`emofuse.train.batching.LengthBucketSampler` (deoliveira2023 batches by length).
* :func:`wrap_model`: the fusion model with its encoders, what trains set by ``training.encoder_tuning``
  (:mod:`emofuse.train.freeze`), and the FT=>FRZ callback.
* The run directory keeps each fine-tuned encoder under ``encoders/<branch>/`` (``save_pretrained``,
  safetensors), beside ``model.safetensors`` (the fusion model, as in cached mode).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.recipes.schema import END_TO_END_KINDS, Recipe
from emofuse.train.batching import LengthBucketSampler
from emofuse.train.collate import collate
from emofuse.train.data import EmotionDataset, branch_texts


def end_to_end_branches(recipe: Recipe) -> list[str]:
    """Branches whose encoder runs inside the model (``mode: end_to_end`` and an ``ssl``/``text`` encoder)."""
    if recipe.training.mode != "end_to_end":
        return []
    return [name for name, feat in recipe.features.items() if feat.kind in END_TO_END_KINDS]


def fine_tuned_branches(recipe: Recipe) -> list[str]:
    """End-to-end branches whose encoder trains (its weights are saved with the run)."""
    tuning = recipe.training.encoder_tuning
    return [b for b in end_to_end_branches(recipe) if b in tuning and tuning[b].trainable]


def build_trainable_encoders(recipe: Recipe) -> dict[str, Any]:
    """``{branch: TrainableEncoder}`` for the end-to-end branches (each built from its encoder spec)."""
    from emofuse.encoders import build_encoder
    from emofuse.encoders.trainable import TrainableEncoder

    return {
        name: TrainableEncoder(build_encoder(recipe.features[name].encoder))
        for name in end_to_end_branches(recipe)
    }


class RawInputs:
    """Where an end-to-end branch's input comes from: the audio span or the text of each utterance."""

    def __init__(
        self, recipe: Recipe, name: str, table: pd.DataFrame, transcripts: pd.DataFrame | None
    ) -> None:
        self.input = recipe.features[name].input
        if self.input == "audio":
            rows = table.set_index("utterance_id")
            self.audio = {
                str(u): (str(r.audio_path), _opt(r.start_s), _opt(r.end_s)) for u, r in rows.iterrows()
            }
            self.texts: dict[str, str] = {}
        else:
            self.audio = {}
            self.texts = branch_texts(table, self.input, transcripts)

    def item(self, uid: str) -> np.ndarray | str:
        if self.input == "audio":
            from emofuse.audio import load_audio

            path, start_s, end_s = self.audio[uid]
            return load_audio(path, start_s=start_s, end_s=end_s)
        return self.texts[uid]


def _opt(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class EndToEndDataset(Dataset):
    """Utterances of one part of a fold in end_to_end mode.

    Item ``i``: ``{"utterance_id", "features": {cached branch: array}, "raw": {e2e branch: prepared input},
    "target"}``. Token ids are prepared once and kept; waveforms are read each time (memory stays bounded).
    """

    def __init__(
        self, base: EmotionDataset, raw: Mapping[str, RawInputs], encoders: Mapping[str, Any]
    ) -> None:
        self.base = base
        self.ids = base.ids
        self.targets = base.targets
        self.raw = dict(raw)
        self.encoders = dict(encoders)
        self._kept: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.base)

    def prepared(self, name: str, uid: str) -> np.ndarray:
        key = (name, uid)
        if key in self._kept:
            return self._kept[key]
        arr = self.encoders[name].prepare(self.raw[name].item(uid))
        if self.encoders[name].modality == "text":
            self._kept[key] = arr
        return arr

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.base[i]
        uid = item["utterance_id"]
        item["raw"] = {name: self.prepared(name, uid) for name in self.raw}
        return item

    def lengths(self) -> list[int]:
        """Per utterance the longest prepared input (samples or tokens), for length bucketing."""
        out = []
        for uid in self.ids:
            n = 0
            for name, src in self.raw.items():
                if src.input == "audio":
                    from emofuse.audio import audio_info

                    path, start_s, end_s = src.audio[uid]
                    if start_s is not None and end_s is not None:
                        n = max(n, int((end_s - start_s) * SAMPLE_RATE_HZ))
                    else:
                        info = audio_info(path)
                        n = max(n, int(info.duration_s * SAMPLE_RATE_HZ))
                else:
                    n = max(n, int(self.prepared(name, uid).shape[0]))
            out.append(n)
        return out

    @staticmethod
    def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """:func:`emofuse.train.collate.collate` for the cached branches, plus the padded raw inputs:
        ``inputs[branch]``: ``[B, N]`` float32 waveforms or ``[B, T]`` int64 token ids, ``masks[branch]``:
        ``[B, N]`` / ``[B, T]`` bool."""
        from emofuse.encoders.trainable import TrainableEncoder

        batch = collate(items)
        for name in items[0]["raw"]:
            batch["inputs"][name], batch["masks"][name] = TrainableEncoder.pad(
                [it["raw"][name] for it in items]
            )
        return batch

    def input_dims(self) -> dict[str, int]:
        dims = self.base.input_dims() if self.base.sources else {}
        dims.update({name: int(self.encoders[name].dim) for name in self.raw})
        return dims

    def input_layers(self) -> dict[str, int]:
        layers = self.base.input_layers() if self.base.sources else {}
        for name in self.raw:
            n = self.encoders[name].n_layers_out
            if n is not None:
                layers[name] = int(n)
        return layers


class EndToEndModel(nn.Module):
    """Encoders in front of a FusionModel: ``forward(inputs, masks)`` as FusionModel's, where the end-to-end
    branches' inputs are raw (``[B, N]`` waveforms / ``[B, T]`` token ids) and the others are features.

    Args:
        fusion_model: the FusionModel (the same network as in cached mode).
        encoders: ``{branch: TrainableEncoder}``.
        encoder_lrs: ``{branch: learning rate}`` of encoders with their own rate.
        freeze_after_epochs: ``{branch: epoch}`` of the FT=>FRZ schedule.
    """

    def __init__(
        self,
        fusion_model: nn.Module,
        encoders: Mapping[str, nn.Module],
        encoder_lrs: Mapping[str, float] | None = None,
        freeze_after_epochs: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.fusion_model = fusion_model
        self.encoders = nn.ModuleDict(dict(encoders))
        self.encoder_lrs = dict(encoder_lrs or {})
        self.freeze_after_epochs = dict(freeze_after_epochs or {})

    def forward(self, inputs: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Any]:
        inputs, masks = dict(inputs), dict(masks)
        for name, encoder in self.encoders.items():
            if any(p.requires_grad for p in encoder.parameters()):
                inputs[name], masks[name] = encoder(inputs[name], masks[name])
            else:
                with torch.no_grad():
                    inputs[name], masks[name] = encoder(inputs[name], masks[name])
        return self.fusion_model(inputs, masks)

    def train(self, mode: bool = True) -> EndToEndModel:
        """Switch modes; a fully frozen encoder stays in eval mode (no dropout, as when cached)."""
        super().train(mode)
        if mode:
            for encoder in self.encoders.values():
                if not any(p.requires_grad for p in encoder.parameters()):
                    encoder.eval()
        return self

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser groups: the fusion model's trainable parameters at ``lr``; each encoder's at its own rate."""
        groups = [{"params": [p for p in self.fusion_model.parameters() if p.requires_grad], "lr": lr}]
        for name, encoder in self.encoders.items():
            params = [p for p in encoder.parameters() if p.requires_grad]
            if params:
                groups.append(
                    {"params": params, "lr": self.encoder_lrs.get(name, lr), "name": f"encoder:{name}"}
                )
        return [g for g in groups if g["params"]]

    def training_callbacks(self) -> list[Any]:
        """The FT=>FRZ callback when a schedule is set."""
        if not self.freeze_after_epochs:
            return []
        from emofuse.train.freeze import FreezeEncodersAt

        return [FreezeEncodersAt(self.freeze_after_epochs)]


def wrap_model(fusion_model: nn.Module, recipe: Recipe, encoders: Mapping[str, Any]) -> EndToEndModel:
    """The fusion model with its encoders, each set to train (or not) as ``training.encoder_tuning`` says."""
    from emofuse.train.freeze import apply_encoder_tuning

    tuning = recipe.training.encoder_tuning
    for name, encoder in encoders.items():
        apply_encoder_tuning(encoder, tuning.get(name), name)
    lrs = {n: t.encoder_lr for n, t in tuning.items() if t.encoder_lr is not None and t.trainable}
    schedule = {n: t.freeze_after_epochs for n, t in tuning.items() if t.freeze_after_epochs and t.trainable}
    return EndToEndModel(fusion_model, encoders, lrs, schedule)


__all__ = [
    "EndToEndDataset",
    "EndToEndModel",
    "LengthBucketSampler",
    "RawInputs",
    "build_trainable_encoders",
    "end_to_end_branches",
    "fine_tuned_branches",
    "wrap_model",
]
