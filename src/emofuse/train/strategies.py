"""Training strategies of pepino2020 Sec. 2.3.3, applied to a FusionModel.

* ``cold_start`` (CS): "Xavier uniform initialization for all layers of the fusion model and train the model
  jointly from scratch".
* ``pretrained`` (PT): branches (and their own output heads) initialised from models trained on one modality,
  then frozen; "The layers after merging are initialized with Xavier uniform initialization. Only these layers
  are trained".
* ``warm_start`` (WS): as PT, but "train also the layers right before pooling for each branch (L_T3 and L_A2)"
  (each branch's ``pre_pool_modules()``).
* ``finetune``: branches initialised as in PT, then every layer trains (the pre-trained branches fine-tuned
  with the fusion layers). This is *not* encoder fine-tuning: that is ``training.mode: end_to_end`` with
  ``training.encoder_tuning`` (:mod:`emofuse.train.end_to_end`), where the encoder sits inside the model.

Frozen norm layers keep their running statistics (FusionModel keeps them in eval mode).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from emofuse.errors import ConfigError

STRATEGIES = ("cold_start", "pretrained", "warm_start", "finetune")


def initialise(model: nn.Module, init: str = "xavier_uniform") -> None:
    """Initialise every layer (``xavier_uniform``, Keras' default) or keep torch's defaults (``default``)."""
    from emofuse.nn.init import xavier_init

    if init == "xavier_uniform":
        xavier_init(model)


def load_pretrained_branches(
    model: nn.Module, states: Mapping[str, tuple[Mapping[str, Tensor], str]]
) -> None:
    """Copy pre-trained branches into ``model``: ``states[branch] = (single-branch state dict, its branch name)``."""
    for name, (state, source_name) in states.items():
        try:
            model.load_branch_state(name, state, source_name)
        except (KeyError, RuntimeError) as exc:
            raise ConfigError(
                f"cannot initialise branch {name!r} from the pre-trained {source_name!r} model: {exc}. "
                "The single-modality system must use the same branch type and params"
            ) from exc


def apply_strategy(model: nn.Module, strategy: str) -> list[str]:
    """Freeze what ``strategy`` keeps fixed (call after loading pre-trained branches). Returns trainable names."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"training.strategy: {strategy!r} is not one of {STRATEGIES}")
    model.unfreeze_all()
    if strategy == "pretrained":
        model.freeze_branches("all")
    elif strategy == "warm_start":
        model.freeze_branches("except_pre_pool")
    trainable = model.trainable_parameter_names()
    if not trainable:
        raise ConfigError(f"strategy {strategy!r} leaves no trainable parameter (fusion {model.fusion!r})")
    return trainable
