"""What of an encoder trains, and when (``training.encoder_tuning``, end_to_end mode).

* :func:`apply_encoder_tuning` sets ``requires_grad`` on a :class:`~emofuse.encoders.trainable.TrainableEncoder`
  from its :class:`~emofuse.recipes.schema.EncoderTuning`: a frozen encoder (``trainable: false``), the
  CNN ``feature_encoder`` of an SSL speech model (Whisper: its two convolutions), a text model's ``embeddings``, ``freeze_layers``; gradient
  checkpointing.
* :class:`FreezeEncodersAt` is the FT=>FRZ schedule: a Lightning callback that freezes an encoder (and puts it
  in eval mode) at the start of epoch ``freeze_after_epochs``; from then on only the rest of the model trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from torch import nn

from emofuse.errors import ConfigError
from emofuse.recipes.schema import EncoderTuning


def freeze(module: nn.Module) -> None:
    """Stop every parameter of ``module`` from training."""
    for p in module.parameters():
        p.requires_grad_(False)


def apply_encoder_tuning(encoder: Any, tuning: EncoderTuning | None, branch: str) -> None:
    """Set what of ``encoder`` (a TrainableEncoder) trains; ``tuning=None`` freezes all of it."""
    model = encoder.model
    for p in model.parameters():
        p.requires_grad_(True)
    if getattr(encoder, "whisper", False):
        freeze(model.embed_positions)  # Whisper's sinusoidal positions stay fixed, as in transformers
    if tuning is None or not tuning.trainable:
        freeze(model)
        return
    where = f"training.encoder_tuning.{branch}"
    for part in tuning.freeze:
        if part == "feature_encoder":
            cnn = getattr(model, "feature_extractor", None)  # wav2vec2, HuBERT, WavLM, data2vec-audio
            if getattr(encoder, "whisper", False):
                cnn = nn.ModuleList([model.conv1, model.conv2])  # Whisper's two-conv front end
            if encoder.modality != "audio" or cnn is None:
                raise ConfigError(f"{where}.freeze: {type(model).__name__} has no CNN feature encoder")
            freeze(cnn)
        elif part == "embeddings":
            emb = getattr(model, "embeddings", None)
            if encoder.modality != "text" or emb is None:
                raise ConfigError(f"{where}.freeze: {type(model).__name__} has no token embeddings")
            freeze(emb)
    if tuning.freeze_layers:
        layers = encoder.transformer_layers()
        bad = [i for i in tuning.freeze_layers if not -len(layers) <= i < len(layers)]
        if bad:
            raise ConfigError(
                f"{where}.freeze_layers: {bad} out of range; the model has {len(layers)} layers"
            )
        for i in tuning.freeze_layers:
            freeze(layers[i])
    if tuning.gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise ConfigError(f"{where}.gradient_checkpointing: {type(model).__name__} does not support it")
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x names it so
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class FreezeEncodersAt(L.Callback):
    """FT=>FRZ: freeze encoder ``name`` of ``pl_module.model.encoders`` when epoch ``epochs[name]`` starts."""

    def __init__(self, epochs: Mapping[str, int]) -> None:
        self.epochs = dict(epochs)
        self.frozen_at: dict[str, int] = {}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        encoders = pl_module.model.encoders
        for name, epoch in self.epochs.items():
            if trainer.current_epoch >= epoch and name not in self.frozen_at:
                freeze(encoders[name])
                encoders[name].eval()
                self.frozen_at[name] = int(trainer.current_epoch)


__all__ = ["FreezeEncodersAt", "apply_encoder_tuning", "freeze"]
